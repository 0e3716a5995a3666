using System.Buffers.Binary;

namespace Pix2Pix.Domain.Data;

/// <summary>
/// The entry count a .zip declares in its end of central directory record (ZIP64 included), read from the last bytes
/// of the file: an archive with too many entries is refused before its central directory is listed into memory.
/// </summary>
public static class ZipEndRecord
{
    private const uint EndSignature = 0x06054b50, Zip64LocatorSignature = 0x07064b50, Zip64EndSignature = 0x06064b50;
    private const int EndSize = 22, MaxCommentLength = ushort.MaxValue, Zip64LocatorSize = 20;

    /// <summary>A central directory record with a name of up to 210 bytes (longer names count as more entries).</summary>
    private const int MaxBytesPerEntry = 256;

    /// <summary>The declared number of entries, or null when the stream has no end record (not a .zip).</summary>
    public static long? DeclaredEntries(Stream zip)
    {
        if (!zip.CanSeek || zip.Length < EndSize) return null;
        long position = zip.Position;
        try
        {
            return Find(zip);
        }
        finally
        {
            zip.Position = position;
        }
    }

    private static long? Find(Stream zip)
    {
        long tailStart = Math.Max(0, zip.Length - EndSize - MaxCommentLength);
        var tail = ReadAt(zip, tailStart, (int)(zip.Length - tailStart));
        for (int at = tail.Length - EndSize; at >= 0; at--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(at)) != EndSignature) continue;
            ushort entries = BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(at + 10));
            uint directoryBytes = BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(at + 12));
            // An archive that declares few entries but whose central directory could hold many more (46 bytes and a
            // name each) counts as that many more: the directory is what gets listed into memory.
            if (entries != ushort.MaxValue) return Math.Max(entries, directoryBytes == uint.MaxValue ? 0 : directoryBytes / MaxBytesPerEntry);
            long locator = tailStart + at - Zip64LocatorSize;
            if (locator < 0) return entries;
            var locatorBytes = ReadAt(zip, locator, Zip64LocatorSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(locatorBytes) != Zip64LocatorSignature) return entries;
            long recordOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(locatorBytes.AsSpan(8));
            if (recordOffset < 0 || recordOffset + 56 > zip.Length) return null;
            var record = ReadAt(zip, recordOffset, 56);
            if (BinaryPrimitives.ReadUInt32LittleEndian(record) != Zip64EndSignature) return null;
            var total = BinaryPrimitives.ReadUInt64LittleEndian(record.AsSpan(32));
            return total > long.MaxValue ? long.MaxValue : (long)total;
        }
        return null;
    }

    private static byte[] ReadAt(Stream stream, long offset, int count)
    {
        var buffer = new byte[count];
        stream.Position = offset;
        stream.ReadExactly(buffer);
        return buffer;
    }
}
