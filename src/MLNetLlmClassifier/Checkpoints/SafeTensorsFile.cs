using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using MLNetLlmClassifier.IO;
using TorchSharp;

namespace MLNetLlmClassifier.Checkpoints;

/// <summary>One tensor of a safetensors file, as its header describes it.</summary>
/// <param name="Name">The tensor's key, e.g. <c>bert.embeddings.word_embeddings.weight</c>.</param>
/// <param name="DType">The safetensors dtype string: F32, F16, BF16, F64, I64, I32, I16, I8, U8 or BOOL.</param>
/// <param name="Shape">The dimensions (empty for a scalar).</param>
/// <param name="Offset">Absolute position in the file of the tensor's first byte.</param>
/// <param name="Length">Number of bytes (elements × element size).</param>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Offset, long Length)
{
    /// <summary>The TorchSharp dtype that holds the stored values.</summary>
    public torch.ScalarType ScalarType => SafeTensorDType.Parse(DType).ScalarType;

    /// <summary>Number of elements (product of <see cref="Shape"/>; 1 for a scalar).</summary>
    public long NumberOfElements => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The shape written like <c>[30522, 64]</c>, for messages.</summary>
    public string ShapeText => ShapeToText(Shape);

    internal static string ShapeToText(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}

/// <summary>The safetensors dtypes this library reads and writes, with their TorchSharp equivalents.</summary>
internal sealed record SafeTensorDType(string Name, torch.ScalarType ScalarType, int ElementSize)
{
    internal static readonly IReadOnlyList<SafeTensorDType> All =
    [
        new("F64", torch.ScalarType.Float64, 8),
        new("F32", torch.ScalarType.Float32, 4),
        new("F16", torch.ScalarType.Float16, 2),
        new("BF16", torch.ScalarType.BFloat16, 2),
        new("I64", torch.ScalarType.Int64, 8),
        new("I32", torch.ScalarType.Int32, 4),
        new("I16", torch.ScalarType.Int16, 2),
        new("I8", torch.ScalarType.Int8, 1),
        new("U8", torch.ScalarType.Byte, 1),
        new("BOOL", torch.ScalarType.Bool, 1),
    ];

    internal static string SupportedNames => string.Join(", ", All.Select(d => d.Name));

    internal static SafeTensorDType? TryParse(string name) => All.FirstOrDefault(d => d.Name == name);

    internal static SafeTensorDType Parse(string name) =>
        TryParse(name) ?? throw new NotSupportedException($"safetensors dtype '{name}' is not supported (supported: {SupportedNames}).");

    internal static SafeTensorDType? TryFrom(torch.ScalarType type) => All.FirstOrDefault(d => d.ScalarType == type);
}

/// <summary>
/// Reader and writer for the <see href="https://github.com/huggingface/safetensors">safetensors</see> format:
/// an 8-byte little-endian header length, a JSON header
/// (<c>{"__metadata__": {...}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}</c>),
/// then the raw little-endian tensor bytes. The format holds no code, so reading it cannot execute anything.
/// </summary>
/// <remarks>
/// <see cref="Open"/> treats the file as untrusted: the header length is capped, the header must be a JSON object,
/// every entry must have a supported dtype, a non-negative shape whose byte size does not overflow, and offsets
/// that lie inside the data region and match that size; the tensors must tile the data region exactly (no gap,
/// no overlap, no trailing bytes), as the reference implementation requires. Any violation is an
/// <see cref="InvalidDataException"/> naming the file and, where there is one, the tensor.
/// The file stays open (shared for reading) until the object is disposed; reads use positional I/O and are thread-safe.
/// </remarks>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted (100 MiB); the reference implementation uses the same cap.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>Chunk size for reading and writing tensor bytes: a <see cref="Span{T}"/> holds at most 2 GiB.</summary>
    internal static long MaxChunkBytes = 1L << 30;

    private readonly Dictionary<string, SafeTensorInfo> _byName;
    private SafeFileHandle? _handle;

    private SafeTensorsFile(string path, SafeFileHandle handle, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>The tensors, in header order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The optional <c>__metadata__</c> strings (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Whether the file holds a tensor of that name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of one tensor.</summary>
    /// <exception cref="KeyNotFoundException">No tensor of that name (the message names the file).</exception>
    public SafeTensorInfo Info(string name) =>
        _byName.TryGetValue(name, out var info) ? info
        : throw new KeyNotFoundException($"{Path}: no tensor named '{name}' (the file holds {_byName.Count} tensors).");

    /// <summary>Opens and validates a safetensors file (see the class remarks for what is checked).</summary>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        EnsureLittleEndian();
        string full = System.IO.Path.GetFullPath(path);
        var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8)
                throw Invalid(full, null, $"the file is {fileLength} bytes long, too short for the 8-byte header length.");
            Span<byte> lengthBytes = stackalloc byte[8];
            ReadExactly(handle, lengthBytes, 0, full, null);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength > (ulong)MaxHeaderBytes)
                throw Invalid(full, null, $"the header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit (corrupt or not a safetensors file).");
            if ((long)headerLength > fileLength - 8)
                throw Invalid(full, null, $"the header length {headerLength} runs past the end of the {fileLength}-byte file (truncated or not a safetensors file).");
            var header = new byte[headerLength];
            ReadExactly(handle, header, 8, full, null);
            long dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = ParseHeader(full, header, dataStart, fileLength - dataStart);
            return new SafeTensorsFile(full, handle, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads one tensor: allocates a CPU tensor of the stored dtype and reads the file bytes straight into its
    /// storage (no intermediate buffer; tensors over 2 GiB are read in chunks), then converts it to
    /// <paramref name="dtype"/> and moves it to <paramref name="device"/> when asked.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No tensor of that name.</exception>
    /// <exception cref="InvalidDataException">The file ended before the tensor's bytes (it changed since it was opened).</exception>
    public torch.Tensor Read(string name, torch.ScalarType? dtype = null, torch.Device? device = null)
    {
        var handle = _handle ?? throw new ObjectDisposedException(nameof(SafeTensorsFile), $"{Path} is closed.");
        var info = Info(name);
        var tensor = torch.empty(info.Shape, SafeTensorDType.Parse(info.DType).ScalarType, torch.CPU);
        try
        {
            using (torch.NewDisposeScope())
            {
                ForEachChunk(tensor, info.Length, (span, at) => ReadExactly(handle, span, info.Offset + at, Path, name));
            }
            bool convert = dtype is { } dt && dt != tensor.dtype;
            bool move = device is { } dev && dev.type != DeviceType.CPU;
            // One conversion at most (to(dtype, device) converts while copying); each step frees the tensor before it.
            if (convert && move) tensor = tensor.to(dtype!.Value, device!, disposeAfter: true);
            else if (convert) tensor = tensor.to(dtype!.Value, disposeAfter: true);
            else if (move) tensor = tensor.to(device!, disposeAfter: true);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes tensors to a safetensors file, atomically (a failed write leaves an existing file intact).
    /// The layout follows the reference implementation: tensors ordered by decreasing element size, then by name
    /// (so every tensor is aligned to its element size), JSON header with <c>__metadata__</c> first, padded with
    /// spaces to a multiple of 8 bytes. Tensors may live on any device and need not be contiguous.
    /// </summary>
    /// <exception cref="ArgumentException">A duplicate or reserved name, or an unsupported dtype (nothing is written).</exception>
    public static void Save(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        EnsureLittleEndian();
        var entries = new List<(string Name, torch.Tensor Tensor, SafeTensorDType DType)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            if (name is null) throw new ArgumentException("A tensor name is null.", nameof(tensors));
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor.", nameof(tensors));
            if (!names.Add(name)) throw new ArgumentException($"Tensor '{name}' appears twice.", nameof(tensors));
            ArgumentNullException.ThrowIfNull(tensor, $"tensor '{name}'");
            var dtype = SafeTensorDType.TryFrom(tensor.dtype)
                ?? throw new ArgumentException($"Tensor '{name}' has dtype {tensor.dtype}, which safetensors cannot store here (supported: {SafeTensorDType.SupportedNames}).", nameof(tensors));
            entries.Add((name, tensor, dtype));
        }
        entries = entries.OrderByDescending(e => e.DType.ElementSize).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();

        byte[] header = BuildHeader(entries.Select(e => (e.Name, e.DType.Name, e.Tensor.shape, checked(e.Tensor.numel() * e.DType.ElementSize))), metadata);
        AtomicFile.Write(path, stream =>
        {
            var lengthBytes = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)header.Length);
            stream.Write(lengthBytes);
            stream.Write(header);
            foreach (var (_, tensor, dtype) in entries)
                WriteTensorBytes(stream, tensor, tensor.numel() * dtype.ElementSize);
        });
    }

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
    }

    // ---- header parsing (untrusted input) ----

    private static (List<SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataStart, long dataLength)
    {
        JsonDocument doc;
        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            try { IO.UntrustedText.CheckUtf8(header, "the header"); }
            catch (InvalidDataException e) { throw Invalid(path, null, e.Message, e); }
        }
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw Invalid(path, null, $"the header is not valid JSON: {IO.UntrustedText.OneLine(e.Message)}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid(path, null, $"the header is a JSON {root.ValueKind}, not an object.");
            var tensors = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Invalid(path, property.Name, "the name appears twice in the header.");
                if (property.Name == "__metadata__")
                    ParseMetadata(path, property.Value, metadata);
                else
                    tensors.Add(ParseEntry(path, property.Name, property.Value, dataStart, dataLength));
            }
            CheckTiling(path, tensors, dataStart, dataLength);
            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Invalid(path, null, $"__metadata__ is a JSON {value.ValueKind}, not an object of strings.");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Invalid(path, null, $"__metadata__ value '{item.Name}' is a JSON {item.Value.ValueKind}, not a string.");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Invalid(path, null, $"__metadata__ key '{item.Name}' appears twice.");
        }
    }

    private static SafeTensorInfo ParseEntry(string path, string name, JsonElement entry, long dataStart, long dataLength)
    {
        if (entry.ValueKind != JsonValueKind.Object)
            throw Invalid(path, name, $"the entry is a JSON {entry.ValueKind}, not an object.");
        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Invalid(path, name, "'dtype' is missing or not a string.");
        string dtypeName = dtypeElement.GetString()!;
        var dtype = SafeTensorDType.TryParse(dtypeName)
            ?? throw Invalid(path, name, $"dtype '{dtypeName}' is not supported (supported: {SafeTensorDType.SupportedNames}).");

        long[] shape = ReadIntegers(path, name, entry, "shape", null);
        long[] offsets = ReadIntegers(path, name, entry, "data_offsets", 2);
        long begin = offsets[0], end = offsets[1];

        long byteCount;
        try
        {
            long numel = 1;
            foreach (long d in shape) numel = checked(numel * d);
            byteCount = checked(numel * dtype.ElementSize);
        }
        catch (OverflowException)
        {
            throw Invalid(path, name, $"the shape {SafeTensorInfo.ShapeToText(shape)} is too large (its byte size overflows).");
        }
        if (begin > end)
            throw Invalid(path, name, $"data_offsets [{begin}, {end}] begin after they end.");
        if (end > dataLength)
            throw Invalid(path, name, $"data_offsets [{begin}, {end}] run past the end of the data region, which holds {dataLength} bytes (file truncated?).");
        if (end - begin != byteCount)
            throw Invalid(path, name, $"data_offsets [{begin}, {end}] span {end - begin} bytes but dtype {dtypeName} with shape {SafeTensorInfo.ShapeToText(shape)} needs {byteCount}.");
        return new SafeTensorInfo(name, dtypeName, shape, dataStart + begin, byteCount);
    }

    private static long[] ReadIntegers(string path, string name, JsonElement entry, string field, int? count)
    {
        if (!entry.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
            throw Invalid(path, name, $"'{field}' is missing or not an array.");
        int length = array.GetArrayLength();
        if (count is { } c && length != c)
            throw Invalid(path, name, $"'{field}' has {length} values, not {c}.");
        var values = new long[length];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw Invalid(path, name, $"'{field}' value {item.GetRawText()} is not a non-negative 64-bit integer.");
            values[i++] = v;
        }
        return values;
    }

    /// <summary>The tensors must cover the data region exactly once, like the reference implementation checks.</summary>
    private static void CheckTiling(string path, List<SafeTensorInfo> tensors, long dataStart, long dataLength)
    {
        long expected = 0;
        SafeTensorInfo? previous = null;
        foreach (var t in tensors.OrderBy(t => t.Offset).ThenBy(t => t.Length))
        {
            long begin = t.Offset - dataStart;
            if (begin < expected)
                throw Invalid(path, t.Name, $"its bytes [{begin}, {begin + t.Length}) overlap those of '{previous!.Name}', which end at {expected}.");
            if (begin > expected)
                throw Invalid(path, t.Name, $"its bytes start at {begin} but the previous tensor{(previous is null ? "s" : $" '{previous.Name}'")} end at {expected}: the data region has a gap.");
            expected = begin + t.Length;
            previous = t;
        }
        if (expected != dataLength)
            throw Invalid(path, null, $"the tensors cover {expected} bytes of data but the file holds {dataLength} (trailing bytes after the last tensor).");
    }

    // ---- raw byte I/O ----

    /// <summary>
    /// Calls <paramref name="action"/> with spans over consecutive pieces (at most <see cref="MaxChunkBytes"/>) of a
    /// contiguous CPU tensor's storage, and the byte position of each piece. Call inside a dispose scope.
    /// </summary>
    private static void ForEachChunk(torch.Tensor tensor, long byteCount, SpanAction action)
    {
        if (byteCount == 0) return;
        long elementSize = tensor.ElementSize;
        long chunkElements = Math.Max(1, MaxChunkBytes / elementSize);
        long numel = tensor.numel();
        var flat = tensor.view(-1);
        for (long done = 0; done < numel; done += chunkElements)
        {
            long n = Math.Min(chunkElements, numel - done);
            action(flat.narrow(0, done, n).bytes, done * elementSize);
        }
    }

    private delegate void SpanAction(Span<byte> span, long byteOffset);

    private static void WriteTensorBytes(Stream stream, torch.Tensor tensor, long byteCount)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var cpu = tensor.device_type == DeviceType.CPU && tensor.is_contiguous() ? tensor : tensor.detach().cpu().contiguous();
        ForEachChunk(cpu, byteCount, (span, _) => stream.Write(span));
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path, string? tensor)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer[done..], offset + done);
            if (n == 0)
                throw Invalid(path, tensor, $"the file ends at {offset + done} but {buffer.Length} bytes were expected from {offset} (truncated, or changed since it was opened).");
            done += n;
        }
    }

    private static byte[] BuildHeader(IEnumerable<(string Name, string DType, long[] Shape, long Bytes)> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape, bytes) in entries)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype);
                json.WriteStartArray("shape");
                foreach (long d in shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        // Pad with spaces so that the data region starts at a multiple of 8 (valid JSON whitespace).
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static InvalidDataException Invalid(string path, string? tensor, string problem, Exception? inner = null) =>
        new(tensor is null ? $"{path}: not a valid safetensors file: {problem}" : $"{path}: tensor '{tensor}': {problem}", inner);

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors stores little-endian bytes; big-endian machines are not supported.");
    }
}
