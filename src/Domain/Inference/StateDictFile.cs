using System.Buffers.Binary;
using System.Collections;
using System.IO.Compression;
using System.Text;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Inference;

/// <summary>A weights file that is not a usable state_dict, or does not fit the manifest; the message names why.</summary>
public sealed class ModelImportException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Reads a generator's weights as users bring them: <c>torch.save(net.state_dict(), path)</c> in the zip format or the
/// legacy format, or a <c>.safetensors</c> file. A pickle is checked before it is read: it may name only the globals a
/// state_dict needs (OrderedDict, the tensor rebuild functions, storage types); anything else is refused, and no
/// pickle is ever executed (PyBridge's unpickler rebuilds tensors and containers only).
/// </summary>
public static class StateDictFile
{
    private static readonly HashSet<string> AllowedGlobals =
    [
        "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    ];

    private static readonly Dictionary<string, int> StorageElementBytes = new()
    {
        ["DoubleStorage"] = 8, ["FloatStorage"] = 4, ["HalfStorage"] = 2, ["BFloat16Storage"] = 2, ["LongStorage"] = 8, ["IntStorage"] = 4,
        ["ShortStorage"] = 2, ["CharStorage"] = 1, ["ByteStorage"] = 1, ["BoolStorage"] = 1,
    };

    /// <summary>torch.save's legacy format starts with this magic number, pickled as a LONG1.</summary>
    private static readonly byte[] LegacyMagic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    /// <summary>The largest data.pkl read: a state_dict's pickle holds names and shapes, not weights.</summary>
    private const int MaxPickleBytes = 64 * 1024 * 1024;

    /// <summary>
    /// The tensors by name (the caller disposes them). <paramref name="maxBytes"/> bounds what a .pth archive may
    /// declare it expands to. Whatever is wrong with the bytes, the answer is a <see cref="ModelImportException"/>.
    /// </summary>
    public static Dictionary<string, Tensor> Read(byte[] file, long maxBytes = 4L * 1024 * 1024 * 1024)
    {
        try
        {
            if (file.Length >= 4 && file[0] == 0x50 && file[1] == 0x4b && file[2] == 0x03 && file[3] == 0x04) return ReadZip(file, maxBytes);
            if (file.AsSpan().StartsWith(LegacyMagic)) return ReadZip(LegacyToZip(file), maxBytes);
            if (LooksLikeSafetensors(file)) return Safetensors.LoadStateDict(new MemoryStream(file));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The reader meets hostile and truncated files: any failure to read them is about the file.
            throw e as ModelImportException ?? new ModelImportException($"The file cannot be read as a state_dict: {e.Message}", e);
        }
        throw new ModelImportException("The file is neither a PyTorch state_dict written by torch.save (.pth, zip or legacy format) nor a .safetensors file.");
    }

    private static Dictionary<string, Tensor> ReadZip(byte[] file, long maxBytes)
    {
        using (var zip = new ZipArchive(new MemoryStream(file), ZipArchiveMode.Read))
        {
            if (zip.Entries.Sum(e => e.Length) > maxBytes)
                throw new ModelImportException($"The .pth archive expands to more than {maxBytes} bytes.");
            var pickle = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal))
                ?? throw new ModelImportException("The .pth archive has no data.pkl: it was not written by torch.save.");
            if (pickle.Length > MaxPickleBytes) throw new ModelImportException($"The .pth archive's data.pkl is larger than {MaxPickleBytes} bytes.");
            using var data = new MemoryStream();
            using (var entry = pickle.Open())
            {
                var buffer = new byte[81920];
                int read;
                while ((read = entry.Read(buffer)) > 0)
                {
                    if (data.Length + read > MaxPickleBytes) throw new ModelImportException($"The .pth archive's data.pkl expands past {MaxPickleBytes} bytes.");
                    data.Write(buffer, 0, read);
                }
            }
            CheckGlobals(PickleScan.Read(data.ToArray(), 0));
        }
        return ToTensors(PyTorchUnpickler.UnpickleStateDict(new MemoryStream(file)));
    }

    private static Dictionary<string, Tensor> ToTensors(Hashtable table)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry entry in table)
        {
            if (entry.Key is not string name || entry.Value is not Tensor tensor)
                throw new ModelImportException($"The file is not a state_dict: its entry '{entry.Key}' is {entry.Value?.GetType().Name ?? "null"}, not a tensor.");
            tensors[name] = tensor;
        }
        return tensors;
    }

    private static void CheckGlobals(PickleScan scan)
    {
        foreach (var global in scan.Globals)
            if (!AllowedGlobals.Contains(global) && !(global.StartsWith("torch.", StringComparison.Ordinal) && StorageElementBytes.ContainsKey(global[6..])))
                throw new ModelImportException($"The pickle asks for '{global}', which a state_dict never needs; it is refused (only tensors and dictionaries are read).");
    }

    /// <summary>
    /// The legacy format is five pickles (magic, protocol, system info, the state_dict, the storage keys) followed by
    /// each storage as an int64 element count and its bytes. It becomes the zip layout PyBridge reads: data.pkl is the
    /// fourth pickle as is, and data/{key} each storage's bytes.
    /// </summary>
    private static byte[] LegacyToZip(byte[] file)
    {
        int position = 0;
        PickleScan? stateDict = null, keys = null;
        for (int i = 0; i < 5; i++)
        {
            var scan = PickleScan.Read(file, position);
            if (i == 3) stateDict = scan;
            if (i == 4) keys = scan;
            position = scan.End;
        }
        CheckGlobals(stateDict!);
        var types = new Dictionary<string, string>();
        foreach (var (key, type) in stateDict!.Storages) types.TryAdd(key, type); // tensors sharing a storage name it more than once
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var pickle = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open())
                pickle.Write(file, stateDict.Start, stateDict.End - stateDict.Start);
            foreach (var key in keys!.Strings)
            {
                if (!types.TryGetValue(key, out var type) || !StorageElementBytes.TryGetValue(type, out var elementBytes))
                    throw new ModelImportException($"The legacy .pth names storage '{key}' without a known type.");
                if (position + 8 > file.Length) throw new ModelImportException("The legacy .pth ends before its storages do.");
                long count = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(position));
                long length = checked(count * elementBytes);
                if (count < 0 || position + 8 + length > file.Length) throw new ModelImportException($"The legacy .pth's storage '{key}' is truncated.");
                using (var storage = zip.CreateEntry($"archive/data/{key}", CompressionLevel.NoCompression).Open())
                    storage.Write(file, position + 8, (int)length);
                position += 8 + (int)length;
            }
            using var version = zip.CreateEntry("archive/version").Open();
            version.Write("3\n"u8);
        }
        return output.ToArray();
    }

    private static bool LooksLikeSafetensors(byte[] file)
    {
        if (file.Length < 10) return false;
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        return headerLength > 1 && headerLength <= (ulong)(file.Length - 8) && file[8] == (byte)'{';
    }
}

/// <summary>
/// One pickle's opcodes walked without running them (the opcode table of Python's pickletools): where it starts and
/// ends, the globals it names, torch's storage references (persistent ids) and the strings it pushes.
/// </summary>
internal sealed class PickleScan
{
    public int Start { get; private init; }
    public int End { get; private set; }
    public List<string> Globals { get; } = [];
    public List<(string Key, string StorageType)> Storages { get; } = [];
    public List<string> Strings { get; } = [];

    private abstract record Value;
    private sealed record Text(string Value) : Value;
    private sealed record Global(string Module, string Name) : Value;
    private sealed record Other : Value;

    public static PickleScan Read(byte[] data, int start)
    {
        var scan = new PickleScan { Start = start };
        var pushed = new List<Value>();
        var memo = new Dictionary<long, Value>();
        var other = new Other();
        int at = start;

        byte[] Take(long count)
        {
            if (count < 0 || at + count > data.Length) throw new ModelImportException("The pickle is truncated.");
            var bytes = data.AsSpan(at, (int)count).ToArray();
            at += (int)count;
            return bytes;
        }
        string Line()
        {
            int end = Array.IndexOf(data, (byte)'\n', at);
            if (end < 0) throw new ModelImportException("The pickle is truncated.");
            var line = Encoding.UTF8.GetString(data, at, end - at);
            at = end + 1;
            return line;
        }
        long Int(int bytes) => bytes switch
        {
            1 => Take(1)[0],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(Take(2)),
            4 => BinaryPrimitives.ReadInt32LittleEndian(Take(4)),
            _ => BinaryPrimitives.ReadInt64LittleEndian(Take(8)),
        };
        void PushText(string text)
        {
            pushed.Add(new Text(text));
            scan.Strings.Add(text);
        }
        void PushGlobal(string module, string name)
        {
            scan.Globals.Add($"{module}.{name}");
            pushed.Add(new Global(module, name));
        }

        // Python reads the 4-byte memo indexes unsigned; one that is negative here would be another slot there.
        static long MemoIndex(long index) => index >= 0 ? index : throw new ModelImportException("The pickle uses a memo index beyond 2^31; it is refused.");

        while (true)
        {
            if (at >= data.Length) throw new ModelImportException("The pickle is truncated (no STOP).");
            byte op = data[at++];
            switch (op)
            {
                case (byte)'.': scan.End = at; return scan; // STOP
                case (byte)'(' or (byte)'0' or (byte)'1' or (byte)'2' or (byte)'N' or (byte)'R' or (byte)'a' or (byte)'b' or (byte)'d' or (byte)'}'
                    or (byte)'e' or (byte)'l' or (byte)']' or (byte)'o' or (byte)'s' or (byte)'t' or (byte)')' or (byte)'u'
                    or 0x81 or 0x85 or 0x86 or 0x87 or 0x88 or 0x89 or 0x8f or 0x90 or 0x91 or 0x92 or 0x97 or 0x98:
                    pushed.Add(other);
                    break;
                case (byte)'Q': // BINPERSID: torch's ('storage', type, key, ...) tuple was just built
                    int storage = pushed.FindLastIndex(v => v is Text { Value: "storage" });
                    if (storage >= 0 && storage + 2 < pushed.Count && pushed[storage + 1] is Global type && pushed[storage + 2] is Text key)
                        scan.Storages.Add((key.Value, type.Name));
                    pushed.Add(other);
                    break;
                case (byte)'F' or (byte)'I' or (byte)'L' or (byte)'P' or (byte)'S': Line(); pushed.Add(other); break;
                case (byte)'V': PushText(Line()); break;
                case (byte)'c': PushGlobal(Line(), Line()); break; // GLOBAL
                case (byte)'i': PushGlobal(Line(), Line()); break; // INST
                case (byte)'J': Take(4); pushed.Add(other); break;
                case (byte)'K': Take(1); pushed.Add(other); break;
                case (byte)'M': Take(2); pushed.Add(other); break;
                case (byte)'G': Take(8); pushed.Add(other); break;
                case 0x80: Take(1); break; // PROTO
                case 0x95: Take(8); break; // FRAME
                case (byte)'T' or (byte)'B': Take(Int(4)); pushed.Add(other); break;
                case (byte)'U' or (byte)'C': Take(Int(1)); pushed.Add(other); break;
                case 0x8e or 0x96: Take(Int(8)); pushed.Add(other); break;
                case 0x8a: Take(Int(1)); pushed.Add(other); break; // LONG1
                case 0x8b: Take(Int(4)); pushed.Add(other); break; // LONG4
                case (byte)'X': PushText(Encoding.UTF8.GetString(Take(Int(4)))); break;
                case 0x8c: PushText(Encoding.UTF8.GetString(Take(Int(1)))); break;
                case 0x8d: PushText(Encoding.UTF8.GetString(Take(Int(8)))); break;
                case 0x93: // STACK_GLOBAL: module and name are the two values pushed last
                    if (pushed.Count >= 2 && pushed[^2] is Text module && pushed[^1] is Text name) PushGlobal(module.Value, name.Value);
                    else throw new ModelImportException("The pickle builds a global from values it computes; it is refused.");
                    break;
                case (byte)'p': memo[long.Parse(Line(), System.Globalization.CultureInfo.InvariantCulture)] = pushed.LastOrDefault() ?? other; break;
                case (byte)'q': memo[Int(1)] = pushed.LastOrDefault() ?? other; break;
                case (byte)'r': memo[MemoIndex(Int(4))] = pushed.LastOrDefault() ?? other; break;
                case 0x94: memo[memo.Count] = pushed.LastOrDefault() ?? other; break; // MEMOIZE
                case (byte)'g': pushed.Add(memo.GetValueOrDefault(long.Parse(Line(), System.Globalization.CultureInfo.InvariantCulture), other)); break;
                case (byte)'h': pushed.Add(memo.GetValueOrDefault(Int(1), other)); break;
                case (byte)'j': pushed.Add(memo.GetValueOrDefault(MemoIndex(Int(4)), other)); break;
                case 0x82 or 0x83 or 0x84: throw new ModelImportException("The pickle uses the extension registry (EXT opcodes); it is refused.");
                default: throw new ModelImportException($"The pickle has an unknown opcode 0x{op:x2} at byte {at - 1}.");
            }
        }
    }
}
