using Google.Protobuf;

namespace MLNetLlmClassifier.Tests.Checkpoints;

/// <summary>Writes small ONNX files (onnx.proto field numbers) with Google.Protobuf's CodedOutputStream, for the reader's tests.</summary>
internal static class OnnxTestFiles
{
    /// <summary>Where a tensor's values are stored.</summary>
    internal enum Storage { RawData, FloatData, External }

    private static byte[] Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        write(output);
        output.Flush();
        return buffer.ToArray();
    }

    private static void Field(CodedOutputStream o, int number, byte[] message)
    {
        o.WriteTag(number, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(ByteString.CopyFrom(message));
    }

    private static void String(CodedOutputStream o, int number, string value)
    {
        o.WriteTag(number, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }

    /// <summary>A float TensorProto; external data goes to <paramref name="externalFile"/> (appended) with its offset and length.</summary>
    public static byte[] FloatTensor(string name, long[] dims, float[] values, Storage storage = Storage.RawData, string? externalFile = null, string? location = null) =>
        Message(o =>
        {
            foreach (var d in dims)
            {
                o.WriteTag(1, WireFormat.WireType.Varint);
                o.WriteInt64(d);
            }
            o.WriteTag(2, WireFormat.WireType.Varint);
            o.WriteInt32(1); // FLOAT
            String(o, 8, name);
            var bytes = values.SelectMany(BitConverter.GetBytes).ToArray();
            switch (storage)
            {
                case Storage.RawData:
                    o.WriteTag(9, WireFormat.WireType.LengthDelimited);
                    o.WriteBytes(ByteString.CopyFrom(bytes));
                    break;
                case Storage.FloatData:
                    // Packed, as protobuf 3 writes repeated scalars.
                    o.WriteTag(4, WireFormat.WireType.LengthDelimited);
                    o.WriteLength(values.Length * 4);
                    foreach (var v in values) o.WriteFloat(v);
                    break;
                case Storage.External:
                    long offset = File.Exists(externalFile) ? new FileInfo(externalFile).Length : 0;
                    using (var f = new FileStream(externalFile!, FileMode.Append)) f.Write(bytes);
                    foreach (var (k, v) in new[] { ("location", location ?? Path.GetFileName(externalFile!)), ("offset", offset.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("length", bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)) })
                        Field(o, 13, Message(e => { String(e, 1, k); String(e, 2, v); }));
                    o.WriteTag(14, WireFormat.WireType.Varint);
                    o.WriteEnum(1); // EXTERNAL
                    break;
            }
        });

    /// <summary>A NodeProto.</summary>
    public static byte[] Node(string opType, string[] inputs, string[] outputs) => Message(o =>
    {
        foreach (var i in inputs) String(o, 1, i);
        foreach (var x in outputs) String(o, 2, x);
        String(o, 3, opType + "_" + outputs[0]);
        String(o, 4, opType);
    });

    /// <summary>A ModelProto (IR 7, opset 13) with one graph of these nodes and initializers.</summary>
    public static byte[] Model(IEnumerable<byte[]> initializers, IEnumerable<byte[]>? nodes = null) => Message(o =>
    {
        o.WriteTag(1, WireFormat.WireType.Varint);
        o.WriteInt64(7);
        String(o, 2, "tests");
        Field(o, 7, Message(g =>
        {
            foreach (var n in nodes ?? []) Field(g, 1, n);
            String(g, 2, "graph");
            foreach (var t in initializers) Field(g, 5, t);
        }));
        Field(o, 8, Message(op => { op.WriteTag(2, WireFormat.WireType.Varint); op.WriteInt64(13); }));
    });
}
