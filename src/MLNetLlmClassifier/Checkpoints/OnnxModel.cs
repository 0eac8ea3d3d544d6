using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Google.Protobuf.Collections;
using TorchSharp;

namespace MLNetLlmClassifier.Checkpoints;

// The part of the ONNX format (onnx/onnx.proto, IR version 3 and later) that importing weights needs: the model's graph,
// its nodes with their attributes, and its initializers, including raw_data, the typed *_data fields and external data.
// The messages are read with Google.Protobuf's CodedInputStream (wire format, varints, packed fields) by field number,
// as protoc-generated code would; every field not listed here is skipped. Field numbers are those of onnx.proto.

/// <summary>An ONNX model file: its producer, opsets and main graph.</summary>
internal sealed class OnnxModel
{
    /// <summary>Files larger than this are refused (ONNX's own 2 GiB protobuf limit; larger models keep weights as external data).</summary>
    internal const long MaxFileBytes = int.MaxValue;

    private OnnxModel(string source, string? directory) => (Source, Directory) = (source, directory);

    /// <summary>The file (or description) it was read from, for error messages.</summary>
    public string Source { get; }

    /// <summary>The folder external data is read from (the model's folder), or null when there is none.</summary>
    public string? Directory { get; }

    public long IrVersion { get; private set; }
    public string ProducerName { get; private set; } = "";
    public string ProducerVersion { get; private set; } = "";
    public List<(string Domain, long Version)> Opsets { get; } = [];
    public OnnxGraph Graph { get; private set; } = new();

    /// <summary>Reads a model file; external data is read from its folder.</summary>
    /// <exception cref="InvalidDataException">Not an ONNX model (the message names the file).</exception>
    public static OnnxModel Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"ONNX model '{path}' does not exist.", path);
        if (new FileInfo(full).Length > MaxFileBytes)
            throw new InvalidDataException($"{path}: larger than 2 GiB, which a single ONNX protobuf cannot be (large models keep their weights as external data).");
        return Parse(File.ReadAllBytes(full), path, Path.GetDirectoryName(full));
    }

    /// <summary>Reads a model from a stream (e.g. a manifest resource); external data, if any, is read from <paramref name="directory"/>.</summary>
    public static OnnxModel Load(Stream stream, string source, string? directory = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length).ToArray(), source, directory);
    }

    internal static OnnxModel Parse(byte[] bytes, string source, string? directory)
    {
        var model = new OnnxModel(source, directory);
        try
        {
            var input = new CodedInputStream(bytes);
            bool sawGraph = false;
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                switch (WireFormat.GetTagFieldNumber(tag))
                {
                    case 1: model.IrVersion = input.ReadInt64(); break;
                    case 2: model.ProducerName = input.ReadString(); break;
                    case 3: model.ProducerVersion = input.ReadString(); break;
                    case 7: model.Graph = OnnxGraph.Parse(Nested(input)); sawGraph = true; break;
                    case 8: model.Opsets.Add(ParseOpset(Nested(input))); break;
                    default: input.SkipLastField(); break;
                }
            }
            if (!sawGraph) throw new InvalidDataException("it has no graph (ModelProto field 7)");
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidDataException)
        {
            throw new InvalidDataException($"{source} is not a readable ONNX model: {e.Message}", e);
        }
        return model;
    }

    private static (string, long) ParseOpset(CodedInputStream input)
    {
        string domain = "";
        long version = 0;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: domain = input.ReadString(); break;
                case 2: version = input.ReadInt64(); break;
                default: input.SkipLastField(); break;
            }
        }
        return (domain, version);
    }

    /// <summary>A length-delimited field read as a stream of its own (the bytes are copied once, then read in place).</summary>
    internal static CodedInputStream Nested(CodedInputStream input) => Stream(input.ReadBytes());

    internal static CodedInputStream Stream(ByteString bytes) =>
        MemoryMarshal.TryGetArray(bytes.Memory, out var segment)
            ? new CodedInputStream(segment.Array!, segment.Offset, segment.Count)
            : new CodedInputStream(bytes.ToByteArray());

    /// <summary>The main graph's opset version of the default domain, or null.</summary>
    public long? DefaultOpset => Opsets.Where(o => o.Domain is "" or "ai.onnx").Select(o => (long?)o.Version).FirstOrDefault();
}

/// <summary>A graph: nodes in topological order, initializers, input and output names.</summary>
internal sealed class OnnxGraph
{
    public string Name { get; private set; } = "";
    public List<OnnxNode> Nodes { get; } = [];
    public List<OnnxTensor> Initializers { get; } = [];
    public List<string> Inputs { get; } = [];
    public List<string> Outputs { get; } = [];

    internal static OnnxGraph Parse(CodedInputStream input)
    {
        var g = new OnnxGraph();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: g.Nodes.Add(OnnxNode.Parse(OnnxModel.Nested(input))); break;
                case 2: g.Name = input.ReadString(); break;
                case 5: g.Initializers.Add(OnnxTensor.Parse(OnnxModel.Nested(input))); break;
                case 11: g.Inputs.Add(ValueInfoName(OnnxModel.Nested(input))); break;
                case 12: g.Outputs.Add(ValueInfoName(OnnxModel.Nested(input))); break;
                default: input.SkipLastField(); break;
            }
        }
        return g;
    }

    private static string ValueInfoName(CodedInputStream input)
    {
        string name = "";
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == 1) name = input.ReadString();
            else input.SkipLastField();
        }
        return name;
    }
}

/// <summary>One operator: <c>op_type</c>, input and output value names, attributes.</summary>
internal sealed class OnnxNode
{
    public string Name { get; private set; } = "";
    public string OpType { get; private set; } = "";
    public string Domain { get; private set; } = "";
    public List<string> Inputs { get; } = [];
    public List<string> Outputs { get; } = [];
    public Dictionary<string, OnnxAttribute> Attributes { get; } = new(StringComparer.Ordinal);

    /// <summary>The node's description for messages: its name (or first output) and type.</summary>
    public override string ToString() => $"{OpType} node '{(Name.Length > 0 ? Name : Outputs.FirstOrDefault() ?? "?")}'";

    internal static OnnxNode Parse(CodedInputStream input)
    {
        var n = new OnnxNode();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: n.Inputs.Add(input.ReadString()); break;
                case 2: n.Outputs.Add(input.ReadString()); break;
                case 3: n.Name = input.ReadString(); break;
                case 4: n.OpType = input.ReadString(); break;
                case 5:
                    var a = OnnxAttribute.Parse(OnnxModel.Nested(input));
                    n.Attributes[a.Name] = a;
                    break;
                case 7: n.Domain = input.ReadString(); break;
                default: input.SkipLastField(); break;
            }
        }
        return n;
    }
}

/// <summary>A node attribute; only the kinds weight import reads (float, int, string, tensor, ints, floats) are kept.</summary>
internal sealed class OnnxAttribute
{
    private static readonly FieldCodec<long> IntsCodec = FieldCodec.ForInt64(WireFormat.MakeTag(8, WireFormat.WireType.LengthDelimited));
    private static readonly FieldCodec<float> FloatsCodec = FieldCodec.ForFloat(WireFormat.MakeTag(7, WireFormat.WireType.LengthDelimited));

    public string Name { get; private set; } = "";
    public float? F { get; private set; }
    public long? I { get; private set; }
    public ByteString? S { get; private set; }
    public OnnxTensor? T { get; private set; }
    public RepeatedField<long> Ints { get; } = [];
    public RepeatedField<float> Floats { get; } = [];

    internal static OnnxAttribute Parse(CodedInputStream input)
    {
        var a = new OnnxAttribute();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: a.Name = input.ReadString(); break;
                case 2: a.F = input.ReadFloat(); break;
                case 3: a.I = input.ReadInt64(); break;
                case 4: a.S = input.ReadBytes(); break;
                case 5: a.T = OnnxTensor.Parse(OnnxModel.Nested(input)); break;
                case 7: a.Floats.AddEntriesFrom(input, FloatsCodec); break;
                case 8: a.Ints.AddEntriesFrom(input, IntsCodec); break;
                default: input.SkipLastField(); break;
            }
        }
        return a;
    }
}

/// <summary>ONNX <c>TensorProto.DataType</c> values this reader converts.</summary>
internal enum OnnxDataType
{
    Undefined = 0, Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, String = 8, Bool = 9,
    Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, BFloat16 = 16,
}

/// <summary>
/// A tensor (initializer or <c>Constant</c> value). Its data is in <c>raw_data</c> (little-endian), in the typed field
/// (<c>float_data</c>, <c>int64_data</c>, <c>int32_data</c> for 8/16-bit types and float16/bfloat16, <c>double_data</c>), or in
/// an external file named by <c>external_data</c> (<c>location</c>, <c>offset</c>, <c>length</c>) relative to the model's folder.
/// </summary>
internal sealed class OnnxTensor
{
    private static readonly FieldCodec<long> DimsCodec = FieldCodec.ForInt64(WireFormat.MakeTag(1, WireFormat.WireType.LengthDelimited));
    private static readonly FieldCodec<float> FloatCodec = FieldCodec.ForFloat(WireFormat.MakeTag(4, WireFormat.WireType.LengthDelimited));
    private static readonly FieldCodec<int> Int32Codec = FieldCodec.ForInt32(WireFormat.MakeTag(5, WireFormat.WireType.LengthDelimited));
    private static readonly FieldCodec<long> Int64Codec = FieldCodec.ForInt64(WireFormat.MakeTag(7, WireFormat.WireType.LengthDelimited));
    private static readonly FieldCodec<double> DoubleCodec = FieldCodec.ForDouble(WireFormat.MakeTag(10, WireFormat.WireType.LengthDelimited));

    private readonly RepeatedField<long> _dims = [];
    private readonly RepeatedField<float> _floatData = [];
    private readonly RepeatedField<int> _int32Data = [];
    private readonly RepeatedField<long> _int64Data = [];
    private readonly RepeatedField<double> _doubleData = [];
    private ByteString? _raw;

    public string Name { get; private set; } = "";
    public OnnxDataType DataType { get; private set; }
    public long[] Shape => [.. _dims];
    public long ElementCount => _dims.Aggregate(1L, (a, b) => a * b);
    public Dictionary<string, string> ExternalData { get; } = new(StringComparer.Ordinal);
    public bool IsExternal { get; private set; }

    /// <summary>Whether the values are floating point (float, float16, bfloat16, double).</summary>
    public bool IsFloatingPoint => DataType is OnnxDataType.Float or OnnxDataType.Float16 or OnnxDataType.BFloat16 or OnnxDataType.Double;

    /// <summary>Whether the values are integers (int8..int64, uint8..uint64).</summary>
    public bool IsInteger => DataType is OnnxDataType.Int8 or OnnxDataType.Int16 or OnnxDataType.Int32 or OnnxDataType.Int64
        or OnnxDataType.UInt8 or OnnxDataType.UInt16 or OnnxDataType.UInt32 or OnnxDataType.UInt64;

    /// <summary>The tensor's description for messages: name, shape and type.</summary>
    public override string ToString() => $"{Name} [{string.Join(", ", _dims)}] {DataType.ToString().ToLowerInvariant()}";

    internal static OnnxTensor Parse(CodedInputStream input)
    {
        var t = new OnnxTensor();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: t._dims.AddEntriesFrom(input, DimsCodec); break;
                case 2: t.DataType = (OnnxDataType)input.ReadInt32(); break;
                case 4: t._floatData.AddEntriesFrom(input, FloatCodec); break;
                case 5: t._int32Data.AddEntriesFrom(input, Int32Codec); break;
                case 7: t._int64Data.AddEntriesFrom(input, Int64Codec); break;
                case 8: t.Name = input.ReadString(); break;
                case 9: t._raw = input.ReadBytes(); break;
                case 10: t._doubleData.AddEntriesFrom(input, DoubleCodec); break;
                case 13:
                    var (key, value) = ParseEntry(OnnxModel.Nested(input));
                    t.ExternalData[key] = value;
                    break;
                case 14: t.IsExternal = input.ReadEnum() == 1; break;
                default: input.SkipLastField(); break;
            }
        }
        return t;
    }

    private static (string, string) ParseEntry(CodedInputStream input)
    {
        string key = "", value = "";
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: key = input.ReadString(); break;
                case 2: value = input.ReadString(); break;
                default: input.SkipLastField(); break;
            }
        }
        return (key, value);
    }

    /// <summary>The values as float32, whatever the floating-point storage.</summary>
    /// <param name="directory">Where external data is read from.</param>
    /// <exception cref="InvalidDataException">Not floating point, or the data does not have the shape's element count (naming the tensor).</exception>
    public float[] ToFloats(string? directory)
    {
        long n = CheckedCount();
        var result = new float[n];
        if (Bytes(directory) is { } raw)
        {
            var span = raw.Span;
            switch (DataType)
            {
                case OnnxDataType.Float: Require(span.Length == n * 4, span.Length); MemoryMarshal.Cast<byte, float>(span).CopyTo(result); break;
                case OnnxDataType.Double:
                    Require(span.Length == n * 8, span.Length);
                    for (int i = 0; i < n; i++) result[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(span[(i * 8)..]);
                    break;
                case OnnxDataType.Float16:
                    Require(span.Length == n * 2, span.Length);
                    for (int i = 0; i < n; i++) result[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(span[(i * 2)..]));
                    break;
                case OnnxDataType.BFloat16:
                    Require(span.Length == n * 2, span.Length);
                    for (int i = 0; i < n; i++) result[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span[(i * 2)..]) << 16);
                    break;
                default: throw NotFloat();
            }
            if (!BitConverter.IsLittleEndian && DataType == OnnxDataType.Float)
                for (int i = 0; i < n; i++) result[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(result[i])));
            return result;
        }
        switch (DataType)
        {
            case OnnxDataType.Float: Require(_floatData.Count == n, _floatData.Count * 4L); _floatData.CopyTo(result, 0); break;
            case OnnxDataType.Double: Require(_doubleData.Count == n, _doubleData.Count * 8L); for (int i = 0; i < n; i++) result[i] = (float)_doubleData[i]; break;
            case OnnxDataType.Float16:
                Require(_int32Data.Count == n, _int32Data.Count * 2L);
                for (int i = 0; i < n; i++) result[i] = (float)BitConverter.UInt16BitsToHalf((ushort)_int32Data[i]);
                break;
            case OnnxDataType.BFloat16:
                Require(_int32Data.Count == n, _int32Data.Count * 2L);
                for (int i = 0; i < n; i++) result[i] = BitConverter.Int32BitsToSingle((_int32Data[i] & 0xFFFF) << 16);
                break;
            default: throw NotFloat();
        }
        return result;
    }

    /// <summary>The values as int64 (integer types only).</summary>
    public long[] ToInt64s(string? directory)
    {
        long n = CheckedCount();
        var result = new long[n];
        int size = DataType switch
        {
            OnnxDataType.Int64 or OnnxDataType.UInt64 => 8,
            OnnxDataType.Int32 or OnnxDataType.UInt32 => 4,
            OnnxDataType.Int16 or OnnxDataType.UInt16 => 2,
            OnnxDataType.Int8 or OnnxDataType.UInt8 or OnnxDataType.Bool => 1,
            _ => throw new InvalidDataException($"ONNX tensor {this}: not an integer tensor."),
        };
        if (Bytes(directory) is { } raw)
        {
            var span = raw.Span;
            Require(span.Length == n * size, span.Length);
            for (int i = 0; i < n; i++)
            {
                var s = span[(i * size)..];
                result[i] = DataType switch
                {
                    OnnxDataType.Int64 or OnnxDataType.UInt64 => BinaryPrimitives.ReadInt64LittleEndian(s),
                    OnnxDataType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(s),
                    OnnxDataType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(s),
                    OnnxDataType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(s),
                    OnnxDataType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(s),
                    OnnxDataType.Int8 => (sbyte)s[0],
                    _ => s[0],
                };
            }
            return result;
        }
        if (size == 8) { Require(_int64Data.Count == n, _int64Data.Count * 8L); _int64Data.CopyTo(result, 0); }
        else { Require(_int32Data.Count == n, _int32Data.Count * (long)size); for (int i = 0; i < n; i++) result[i] = _int32Data[i]; }
        return result;
    }

    /// <summary>A float32 CPU tensor of this shape.</summary>
    public torch.Tensor ToTorch(string? directory) => torch.tensor(ToFloats(directory), Shape);

    private long CheckedCount()
    {
        if (_dims.Any(d => d < 0)) throw new InvalidDataException($"ONNX tensor {this}: negative dimension.");
        long n = ElementCount;
        if (n > Array.MaxLength) throw new InvalidDataException($"ONNX tensor {this}: {n} elements is more than one array holds.");
        return n;
    }

    /// <summary>raw_data, or the external data's bytes, or null when the values are in a typed field.</summary>
    private ReadOnlyMemory<byte>? Bytes(string? directory)
    {
        if (IsExternal || ExternalData.Count > 0) return ReadExternal(directory);
        // Not "_raw is null ? null : _raw.Memory": that conditional is typed ReadOnlyMemory<byte>, and null would become an empty memory.
        return _raw?.Memory;
    }

    private byte[] ReadExternal(string? directory)
    {
        if (!ExternalData.TryGetValue("location", out var location) || location.Length == 0)
            throw new InvalidDataException($"ONNX tensor {this}: its data is external but external_data names no location.");
        if (directory is null)
            throw new InvalidDataException($"ONNX tensor {this}: its data is in the external file '{location}', but the model was not read from a folder.");
        // The location is relative to the model's folder and must stay inside it (as onnx's checker requires).
        var root = Path.GetFullPath(directory);
        var path = Path.GetFullPath(Path.Combine(root, location));
        if (Path.IsPathRooted(location) || !path.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidDataException($"ONNX tensor {this}: external data location '{location}' is not inside the model's folder {root}.");
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX tensor {this}: its external data file {path} does not exist.", path);
        long offset = ExternalData.TryGetValue("offset", out var o) ? ParseLong(o, "offset") : 0;
        using var stream = File.OpenRead(path);
        long length = ExternalData.TryGetValue("length", out var l) ? ParseLong(l, "length") : stream.Length - offset;
        if (offset < 0 || length < 0 || offset + length > stream.Length || length > Array.MaxLength)
            throw new InvalidDataException($"ONNX tensor {this}: external data offset {offset} + length {length} is outside {path} ({stream.Length} bytes).");
        var bytes = new byte[length];
        stream.Position = offset;
        stream.ReadExactly(bytes);
        return bytes;
    }

    private long ParseLong(string text, string field) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v : throw new InvalidDataException($"ONNX tensor {this}: external data {field} '{text}' is not a number.");

    private void Require(bool ok, long bytesFound)
    {
        if (!ok) throw new InvalidDataException($"ONNX tensor {this}: its data ({bytesFound} bytes) does not match its shape ({ElementCount} elements).");
    }

    private InvalidDataException NotFloat() => new($"ONNX tensor {this}: not a floating-point tensor.");
}
