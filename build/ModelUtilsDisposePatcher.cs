// Compiled by MSBuild's RoslynCodeTaskFactory (see MLNetTorchSharpDisposeFix.targets).
// Microsoft.ML.TorchSharp 0.24.0 (built against TorchSharp 0.102.7) initialises weights with
//     using (torch.nn.init.xavier_uniform_(tensor)) { }
// in ModelUtils.InitXavierUniform / InitConstant / InitNormal / InitZeros. Since TorchSharp 0.104, init.*_ returns the module's
// own parameter, so that `using` disposes the model's weights (dotnet/machinelearning#7350): Fit fails with "Tensor invalid --
// empty handle" or "Mismatched state_dict sizes". This task rewrites the `callvirt IDisposable::Dispose` of each of those four
// methods, found through the assembly's metadata tables (ECMA-335 II.22-24, read here with no library: MSBuild's inline tasks compile
// against netstandard 2.0, which lacks System.Reflection.Metadata), into `pop` + four `nop`s (same length, same stack effect), so the returned tensor is left alone. Only the IL bytes of
// those methods change; the file is rewritten through a temporary file and an atomic rename. A copy already patched, or one
// whose methods no longer have the pattern (an upstream fix), is left alone.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
#if !MLNETLLM_PATCH_ONLY
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
#endif

#if !MLNETLLM_PATCH_ONLY
public class MLNetLlmClassifierPatchModelUtilsDispose : Task
{
    [Required] public ITaskItem[] Files { get; set; }

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            string path = item.ItemSpec;
            try
            {
                byte[] image = File.ReadAllBytes(path);
                int patched = ModelUtilsDisposePatch.Patch(image, out int alreadyPatched);
                if (patched == 0)
                {
                    Log.LogMessage(MessageImportance.Low, "{0}: ModelUtils already patched ({1} method(s)) or not affected", path, alreadyPatched);
                    continue;
                }
                string tmp = path + ".dispose-fix.tmp";
                File.WriteAllBytes(tmp, image);
                File.Replace(tmp, path, null);
                Log.LogMessage(MessageImportance.Normal, "{0}: ModelUtils.Init* no longer dispose the weights they initialise ({1} method(s) patched)", path, patched);
            }
            catch (Exception e)
            {
                Log.LogWarning("Could not apply the Microsoft.ML.TorchSharp dispose fix to {0}: {1}", path, e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif

/// <summary>The IL rewrite itself, without MSBuild (the tests compile this part alone).</summary>
public static class ModelUtilsDisposePatch
{
    /// <summary>The methods whose `using` disposes a module's parameter.</summary>
    public static readonly string[] Methods = { "InitXavierUniform", "InitConstant", "InitNormal", "InitZeros" };

    /// <summary>
    /// Patches <paramref name="image"/> in place; returns the number of `callvirt IDisposable::Dispose` rewritten, and in
    /// <paramref name="alreadyPatched"/> the number found already rewritten.
    /// </summary>
    public static int Patch(byte[] image, out int alreadyPatched)
    {
        var offsets = Find(image, out alreadyPatched);
        foreach (int at in offsets)
        {
            image[at] = 0x26;  // pop: drops the tensor the callvirt would have disposed
            for (int k = 1; k <= 4; k++) image[at + k] = 0x00;  // nop
        }
        return offsets.Count;
    }

    /// <summary>File offsets of the `callvirt IDisposable::Dispose` instructions to rewrite in ModelUtils.Init*.</summary>
    public static List<int> Find(byte[] image, out int alreadyPatched)
    {
        alreadyPatched = 0;
        var result = new List<int>();
        var md = new Metadata(image);
        int modelUtils = md.FindTypeDef("Microsoft.ML.TorchSharp.Utils", "ModelUtils");
        if (modelUtils == 0) return result;
        var (first, last) = md.MethodRange(modelUtils);
        for (int m = first; m < last; m++)
        {
            var (rva, name) = md.Method(m);
            if (Array.IndexOf(Methods, name) < 0 || rva == 0) continue;
            var (il, size) = md.MethodIL(rva);
            // ldloc.0; callvirt <IDisposable::Dispose>; endfinally
            for (int i = il + 1; i + 5 < il + size; i++)
            {
                if (image[i - 1] != 0x06 || image[i + 5] != 0xDC) continue;
                if (image[i] == 0x6F && md.IsDisposeMemberRef(BitConverter.ToInt32(image, i + 1))) result.Add(i);
                else if (image[i] == 0x26 && image[i + 1] == 0 && image[i + 2] == 0 && image[i + 3] == 0 && image[i + 4] == 0) alreadyPatched++;
            }
        }
        return result;
    }

    /// <summary>Just enough of an ECMA-335 metadata reader: TypeDef, MethodDef, MemberRef and TypeRef rows, strings, method bodies.</summary>
    private sealed class Metadata
    {
        private readonly byte[] _f;
        private readonly (int Rva, int Size, int Raw)[] _sections;
        private readonly int _strings;
        private readonly int[] _rows = new int[64];
        private readonly int[] _tableOffset = new int[64];
        private readonly int[] _rowSize = new int[64];
        private readonly int _stringIndex, _guidIndex, _blobIndex;

        public Metadata(byte[] f)
        {
            _f = f;
            if (U16(0) != 0x5A4D) throw new InvalidDataException("not a PE file");
            int pe = I32(0x3C);
            if (I32(pe) != 0x4550) throw new InvalidDataException("no PE signature");
            int sections = U16(pe + 6), optional = U16(pe + 20), opt = pe + 24;
            bool pe32Plus = U16(opt) == 0x20B;
            int dataDirs = opt + (pe32Plus ? 112 : 96);
            int cliRva = I32(dataDirs + 14 * 8);
            _sections = new (int, int, int)[sections];
            for (int s = 0; s < sections; s++)
            {
                int h = opt + optional + s * 40;
                _sections[s] = (I32(h + 12), Math.Max(I32(h + 8), I32(h + 16)), I32(h + 20));
            }
            int cli = Offset(cliRva);
            int root = Offset(I32(cli + 8));
            if (I32(root) != 0x424A5342) throw new InvalidDataException("no metadata root");
            int versionLength = I32(root + 12);
            int p = root + 16 + versionLength + 2;
            int streams = U16(p);
            p += 2;
            int tables = -1;
            for (int s = 0; s < streams; s++)
            {
                int offset = I32(p), name = p + 8;
                int end = name;
                while (_f[end] != 0) end++;
                string streamName = Encoding.ASCII.GetString(_f, name, end - name);
                if (streamName == "#~" || streamName == "#-") tables = root + offset;
                else if (streamName == "#Strings") _strings = root + offset;
                p = name + ((end - name + 4) & ~3);
            }
            if (tables < 0 || _strings == 0) throw new InvalidDataException("no #~ or #Strings stream");
            int heapSizes = _f[tables + 6];
            _stringIndex = (heapSizes & 1) != 0 ? 4 : 2;
            _guidIndex = (heapSizes & 2) != 0 ? 4 : 2;
            _blobIndex = (heapSizes & 4) != 0 ? 4 : 2;
            long valid = BitConverter.ToInt64(_f, tables + 8);
            int q = tables + 24;
            for (int t = 0; t < 64; t++)
                if ((valid >> t & 1) != 0) { _rows[t] = I32(q); q += 4; }
            ComputeRowSizes();
            for (int t = 0; t < 64; t++)
            {
                _tableOffset[t] = q;
                q += _rows[t] * _rowSize[t];
            }
        }

        private int Index(int table) => _rows[table] < 0x10000 ? 2 : 4;

        private int Coded(int tagBits, params int[] tables)
        {
            int max = 0;
            foreach (int t in tables) max = Math.Max(max, _rows[t]);
            return max < (1 << (16 - tagBits)) ? 2 : 4;
        }

        private void ComputeRowSizes()
        {
            int s = _stringIndex, g = _guidIndex, b = _blobIndex;
            int typeDefOrRef = Coded(2, 0x02, 0x01, 0x1B);
            int resolutionScope = Coded(2, 0x00, 0x1A, 0x23, 0x01);
            int memberRefParent = Coded(3, 0x02, 0x01, 0x1A, 0x06, 0x1B);
            _rowSize[0x00] = 2 + s + 3 * g;                                   // Module
            _rowSize[0x01] = resolutionScope + 2 * s;                         // TypeRef
            _rowSize[0x02] = 4 + 2 * s + typeDefOrRef + Index(0x04) + Index(0x06); // TypeDef
            _rowSize[0x03] = Index(0x04);                                     // FieldPtr
            _rowSize[0x04] = 2 + s + b;                                       // Field
            _rowSize[0x05] = Index(0x06);                                     // MethodPtr
            _rowSize[0x06] = 4 + 2 + 2 + s + b + Index(0x08);                 // MethodDef
            _rowSize[0x07] = Index(0x08);                                     // ParamPtr
            _rowSize[0x08] = 2 + 2 + s;                                       // Param
            _rowSize[0x09] = Index(0x02) + typeDefOrRef;                      // InterfaceImpl
            _rowSize[0x0A] = memberRefParent + s + b;                         // MemberRef
            // Tables after MemberRef are never read; their offsets are not needed.
        }

        private int Row(int table, int row) => _tableOffset[table] + (row - 1) * _rowSize[table];

        private int Read(int at, int size) => size == 2 ? U16(at) : I32(at);

        private string String(int index)
        {
            int start = _strings + index, end = start;
            while (_f[end] != 0) end++;
            return Encoding.UTF8.GetString(_f, start, end - start);
        }

        /// <summary>The 1-based TypeDef row of a type, or 0.</summary>
        public int FindTypeDef(string ns, string name)
        {
            if (_rows[0x03] != 0 || _rows[0x05] != 0) throw new InvalidDataException("uncompressed metadata (#-) is not supported");
            for (int r = 1; r <= _rows[0x02]; r++)
            {
                int at = Row(0x02, r) + 4;
                if (String(Read(at, _stringIndex)) == name && String(Read(at + _stringIndex, _stringIndex)) == ns) return r;
            }
            return 0;
        }

        /// <summary>The MethodDef rows [first, last) of a TypeDef row.</summary>
        public (int First, int Last) MethodRange(int typeDef)
        {
            int methodList = 4 + 2 * _stringIndex + Coded(2, 0x02, 0x01, 0x1B) + Index(0x04);
            int first = Read(Row(0x02, typeDef) + methodList, Index(0x06));
            int last = typeDef < _rows[0x02] ? Read(Row(0x02, typeDef + 1) + methodList, Index(0x06)) : _rows[0x06] + 1;
            return (first, last);
        }

        public (int Rva, string Name) Method(int row)
        {
            int at = Row(0x06, row);
            return (I32(at), String(Read(at + 8, _stringIndex)));
        }

        /// <summary>File offset and size of a method's IL (tiny or fat header).</summary>
        public (int Offset, int Size) MethodIL(int rva)
        {
            int at = Offset(rva);
            byte h = _f[at];
            if ((h & 3) == 2) return (at + 1, h >> 2);
            int headerSize = (U16(at) >> 12) * 4;
            return (at + headerSize, I32(at + 4));
        }

        /// <summary>Whether a token is a MemberRef to System.IDisposable::Dispose.</summary>
        public bool IsDisposeMemberRef(int token)
        {
            if ((token >> 24) != 0x0A) return false;
            int row = token & 0xFFFFFF;
            if (row < 1 || row > _rows[0x0A]) return false;
            int parentSize = Coded(3, 0x02, 0x01, 0x1A, 0x06, 0x1B);
            int at = Row(0x0A, row);
            int parent = Read(at, parentSize);
            if (String(Read(at + parentSize, _stringIndex)) != "Dispose" || (parent & 7) != 1) return false; // tag 1: TypeRef
            int typeRef = Row(0x01, parent >> 3) + Coded(2, 0x00, 0x1A, 0x23, 0x01);
            return String(Read(typeRef, _stringIndex)) == "IDisposable" && String(Read(typeRef + _stringIndex, _stringIndex)) == "System";
        }

        private int Offset(int rva)
        {
            foreach (var (va, size, raw) in _sections)
                if (rva >= va && rva < va + size) return rva - va + raw;
            throw new InvalidDataException($"RVA 0x{rva:X} is in no section");
        }

        private int U16(int at) => _f[at] | _f[at + 1] << 8;

        private int I32(int at) => BitConverter.ToInt32(_f, at);
    }
}
