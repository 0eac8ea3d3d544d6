using System.Globalization;
using System.Text.RegularExpressions;

namespace MLNetLlmClassifier.Checkpoints;

/// <summary>
/// Checks what a config.json implies before a module is built from it: the bytes of its parameters against the memory
/// available, and the shapes of a few tensors (embeddings, first layer, layer count) against the sizes the checkpoint's
/// safetensors headers declare (read without touching the data). A corrupt or hostile config.json thus fails in
/// milliseconds with one line naming the file and the field, instead of allocating what it asks for.
/// </summary>
internal static partial class ModelSizeGuard
{
    /// <summary>A tensor the config implies: its name ends with <paramref name="Suffix"/>; one config field per dimension.</summary>
    internal sealed record ImpliedTensor(string Suffix, long[] Shape, string[] Fields);

    /// <summary>One term of the parameter count, with the config fields it grows with (to name the culprit).</summary>
    internal sealed record SizeTerm(string Fields, double Parameters);

    /// <summary>
    /// Memory the process may use, in bytes (the container's or machine's limit as the GC sees it). Settable by tests.
    /// </summary>
    internal static Func<long> AvailableMemoryBytes { get; set; } = () => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>
    /// Refuses a model whose parameters (<paramref name="terms"/> × <paramref name="bytesPerParameter"/>) exceed the memory
    /// available, naming the fields of the largest term.
    /// </summary>
    /// <exception cref="InvalidDataException">The estimate exceeds the available memory.</exception>
    internal static void CheckFitsInMemory(string source, IReadOnlyList<SizeTerm> terms, int bytesPerParameter, string dtypeName)
    {
        double parameters = terms.Sum(t => t.Parameters);
        double bytes = parameters * bytesPerParameter;
        long available = AvailableMemoryBytes();
        if (available > 0 && bytes > available)
        {
            var largest = terms.MaxBy(t => t.Parameters)!;
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{source}: the model needs about {Gb(bytes)} of {dtypeName} parameters ({parameters:G3} parameters, {largest.Fields} alone {largest.Parameters:G3}), more than the {Gb(available)} of memory available; check {largest.Fields.Split(' ')[0]}."));
        }
    }

    /// <summary>
    /// How much larger than the checkpoint a config's model may be before it is refused without being built: twice the
    /// checkpoint's parameters (a fresh classification head, a missing pooler) plus 64 MiB. A config that disagrees with
    /// the checkpoint by less is built (cheaply) and the strict state-dict load lists every difference; one that implies
    /// far more than the checkpoint holds (a corrupt vocab_size, a thousand layers) fails here, before any allocation.
    /// </summary>
    internal const double CheckpointSlackFactor = 2.0;

    /// <summary>See <see cref="CheckpointSlackFactor"/>.</summary>
    internal const double CheckpointSlackBytes = 64.0 * 1024 * 1024;

    /// <summary>
    /// Refuses a config whose model would be far larger than the checkpoint it is loaded from (see
    /// <see cref="CheckpointSlackFactor"/>), naming the first field whose implied shape disagrees with a tensor of the
    /// checkpoint's headers (or the layer count). Tensors the checkpoint lacks are skipped here (the strict state-dict load
    /// reports them).
    /// </summary>
    /// <exception cref="InvalidDataException">The model would be far larger than the checkpoint; the message names the config file, the field and the tensor.</exception>
    internal static void CheckAgainstCheckpoint(string source, CheckpointWeights weights, IReadOnlyList<ImpliedTensor> tensors,
        string layersField, int layers, IReadOnlyList<SizeTerm> terms, int bytesPerParameter)
    {
        var names = weights.Names;
        double implied = terms.Sum(t => t.Parameters) * bytesPerParameter;
        double stored = names.Sum(n => (double)weights.Info(n).NumberOfElements) * bytesPerParameter;
        if (implied <= CheckpointSlackFactor * stored + CheckpointSlackBytes)
            return;
        string size = string.Create(CultureInfo.InvariantCulture,
            $"the config implies {Gb(implied)} of parameters, the checkpoint holds {Gb(stored)} ({string.Join(", ", weights.Files)})");

        foreach (var probe in tensors)
        {
            string? name = names.Where(n => n == probe.Suffix || n.EndsWith("." + probe.Suffix, StringComparison.Ordinal))
                .Order(StringComparer.Ordinal).FirstOrDefault();
            if (name is null) continue;
            var info = weights.Info(name);
            for (int d = 0; d < probe.Shape.Length; d++)
            {
                long found = d < info.Shape.Length ? info.Shape[d] : -1;
                if (info.Shape.Length != probe.Shape.Length || found != probe.Shape[d])
                    throw new InvalidDataException(
                        $"{source}: {probe.Fields[d]} = {probe.Shape[d]} disagrees with the checkpoint: tensor '{name}' has shape {info.ShapeText} where the config implies {SafeTensorInfo.ShapeToText(probe.Shape)}; {size}.");
            }
        }

        // Layers present in the checkpoint: the distinct indices N of names like "...layer.N." or "...layers.N.".
        var indices = new HashSet<int>();
        foreach (var n in names)
        {
            var m = LayerIndex().Match(n);
            if (m.Success && int.TryParse(m.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int i))
                indices.Add(i);
        }
        if (indices.Count > 0 && indices.Count != layers)
            throw new InvalidDataException($"{source}: {layersField} = {layers} disagrees with the checkpoint, which holds {indices.Count} layers; {size}.");
        var largest = terms.MaxBy(t => t.Parameters)!;
        throw new InvalidDataException($"{source}: {largest.Fields} is far larger than the checkpoint: {size}.");
    }

    private static string Gb(double bytes) =>
        (bytes / 1e9).ToString(bytes >= 1e11 ? "0" : "0.0#", CultureInfo.InvariantCulture) + " GB";

    [GeneratedRegex(@"(?:^|\.)layers?\.(\d{1,9})\.", RegexOptions.CultureInvariant)]
    private static partial Regex LayerIndex();
}
