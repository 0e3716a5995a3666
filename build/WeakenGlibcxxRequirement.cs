// Inline MSBuild task (RoslynCodeTaskFactory). TorchSharp 0.107.0's libLibTorchSharp.so requires GLIBCXX_3.4.32
// (GCC 13) only for the link-time marker std::ios_base_library_init(), which nothing calls. Hosts with an older
// libstdc++ (Debian 12 has 3.4.30) refuse to load it; marking that one version requirement weak (VER_FLG_WEAK)
// in the copied .so lets the loader accept it. Hosts whose libstdc++ has the version are left untouched.
using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenGlibcxxRequirement : Task
{
    private const string Version = "GLIBCXX_3.4.32";
    private static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
    };

    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || HostHasVersion()) return true;
        foreach (var library in Libraries)
        {
            var path = library.ItemSpec;
            if (!File.Exists(path)) continue;
            var weakened = Weaken(path);
            Log.LogMessage(MessageImportance.Normal, $"{path}: marked {weakened} requirement(s) on {Version} weak");
        }
        return !Log.HasLoggedErrors;
    }

    private static bool HostHasVersion()
    {
        var library = LibStdCxxCandidates.FirstOrDefault(File.Exists);
        if (library is null) return true; // no system libstdc++ found: nothing we can reason about, leave the file alone
        // The version names sit in .dynstr as NUL-terminated strings; Latin-1 maps bytes 1:1 to chars.
        var text = Encoding.GetEncoding("ISO-8859-1").GetString(File.ReadAllBytes(library));
        return text.Contains(Version + "\0");
    }

    private static int Weaken(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[4] != 2 || bytes[5] != 1)
            return 0; // only ELF64 little-endian
        long sectionHeaders = BitConverter.ToInt64(bytes, 0x28);
        int entrySize = BitConverter.ToUInt16(bytes, 0x3A), count = BitConverter.ToUInt16(bytes, 0x3C);
        int weakened = 0;
        for (int i = 0; i < count; i++)
        {
            long header = sectionHeaders + (long)i * entrySize;
            if (BitConverter.ToUInt32(bytes, (int)header + 4) != 0x6ffffffe) continue; // SHT_GNU_verneed
            long offset = BitConverter.ToInt64(bytes, (int)header + 24);
            int link = (int)BitConverter.ToUInt32(bytes, (int)header + 40);
            int entries = (int)BitConverter.ToUInt32(bytes, (int)header + 44);
            long strings = BitConverter.ToInt64(bytes, (int)(sectionHeaders + (long)link * entrySize + 24));
            long need = offset;
            for (int n = 0; n < entries; n++)
            {
                int auxCount = BitConverter.ToUInt16(bytes, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(bytes, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    long name = strings + BitConverter.ToUInt32(bytes, (int)aux + 8);
                    int end = Array.IndexOf(bytes, (byte)0, (int)name);
                    if (Encoding.ASCII.GetString(bytes, (int)name, end - (int)name) == Version)
                    {
                        ushort flags = BitConverter.ToUInt16(bytes, (int)aux + 4);
                        if ((flags & 0x2) == 0)
                        {
                            BitConverter.GetBytes((ushort)(flags | 0x2)).CopyTo(bytes, (int)aux + 4);
                            weakened++;
                        }
                    }
                    aux += BitConverter.ToUInt32(bytes, (int)aux + 12);
                }
                uint next = BitConverter.ToUInt32(bytes, (int)need + 12);
                if (next == 0) break;
                need += next;
            }
        }
        if (weakened > 0) File.WriteAllBytes(path, bytes);
        return weakened;
    }
}
