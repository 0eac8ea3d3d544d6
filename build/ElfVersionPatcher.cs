// Compiled by MSBuild's RoslynCodeTaskFactory (see TorchSharpGlibcxxFix.targets), and into the library itself with
// MLNETLLM_RUNTIME defined (the task class left out), where Torch/TorchNativeFix.cs applies the same patch at run time for
// apps that reference the library project, whose build does not import these targets.
// Marks one version requirement (a Vernaux entry of .gnu.version_r) of an ELF64 little-endian
// shared library as weak (VER_FLG_WEAK = 0x2). Only the two flag bytes change; the file is
// rewritten through a temporary file and an atomic rename. Anything that is not such a library,
// or lacks the version, is left alone.
using System;
using System.IO;
using System.Text;
#if !MLNETLLM_RUNTIME
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class MLNetLlmClassifierWeakenGlibcxxVersion : Task
{
    [Required] public ITaskItem[] Files { get; set; }
    [Required] public string Version { get; set; }

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            string path = item.ItemSpec;
            try
            {
                byte[] elf = File.ReadAllBytes(path);
                int changed = MLNetLlmClassifierElfVersion.Weaken(elf, Version);
                if (changed < 0) { Log.LogMessage(MessageImportance.Low, "{0}: {1} already weak or absent", path, Version); continue; }
                string tmp = path + ".glibcxx-fix.tmp";
                File.WriteAllBytes(tmp, elf);
                File.Replace(tmp, path, null);
                Log.LogMessage(MessageImportance.Normal, "{0}: marked the {1} requirement weak (TorchSharp GLIBCXX fix)", path, Version);
            }
            catch (Exception e)
            {
                Log.LogWarning("Could not apply the TorchSharp GLIBCXX fix to {0}: {1}", path, e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif

internal static class MLNetLlmClassifierElfVersion
{
    // Returns the Vernaux offset that was changed, or -1 when nothing needed to change.
    public static int Weaken(byte[] f, string version)
    {
        if (f.Length < 64 || f[0] != 0x7f || f[1] != (byte)'E' || f[2] != (byte)'L' || f[3] != (byte)'F' || f[4] != 2 || f[5] != 1)
            throw new InvalidDataException("not an ELF64 little-endian file");
        long shoff = BitConverter.ToInt64(f, 0x28);
        int shentsize = BitConverter.ToUInt16(f, 0x3A), shnum = BitConverter.ToUInt16(f, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            if (sh + 64 > f.Length) throw new InvalidDataException("section header table out of range");
            if (BitConverter.ToUInt32(f, (int)sh + 4) != 0x6ffffffe) continue; // SHT_GNU_verneed
            long off = BitConverter.ToInt64(f, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(f, (int)sh + 0x28);
            int count = (int)BitConverter.ToUInt32(f, (int)sh + 0x2C);
            long strOff = BitConverter.ToInt64(f, (int)(shoff + (long)link * shentsize) + 0x18);
            long vn = off;
            for (int n = 0; n < count; n++)
            {
                int cnt = BitConverter.ToUInt16(f, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(f, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    int flags = BitConverter.ToUInt16(f, (int)aux + 4);
                    long name = strOff + BitConverter.ToUInt32(f, (int)aux + 8);
                    int end = Array.IndexOf(f, (byte)0, (int)name);
                    if (end > 0 && Encoding.ASCII.GetString(f, (int)name, end - (int)name) == version)
                    {
                        if ((flags & 2) != 0) return -1;
                        BitConverter.GetBytes((ushort)(flags | 2)).CopyTo(f, (int)aux + 4);
                        return (int)aux;
                    }
                    uint next = BitConverter.ToUInt32(f, (int)aux + 12);
                    if (next == 0) break;
                    aux += next;
                }
                uint vnext = BitConverter.ToUInt32(f, (int)vn + 12);
                if (vnext == 0) break;
                vn += vnext;
            }
        }
        return -1;
    }
}
