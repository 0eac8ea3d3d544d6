using System.Globalization;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Checkpoints;

/// <summary>
/// Detects NaN and infinite values in a module's parameters and buffers. A classifier with such a weight predicts NaN
/// scores (and an arbitrary label) for every row, so loading one is refused with a message naming the tensor.
/// </summary>
internal static class NonFiniteWeights
{
    /// <summary>The first tensor (by state-dict name) holding a NaN or infinite value, with the counts; null when all are finite.</summary>
    internal static (string Name, long NaN, long Infinite)? Find(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var noGrad = no_grad();
        foreach (var (name, tensor) in module.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!tensor.is_floating_point()) continue;
            using var scope = NewDisposeScope();
            if (isfinite(tensor).all().item<bool>()) continue;
            long nan = isnan(tensor).sum().item<long>();
            long total = tensor.numel() - isfinite(tensor).sum().item<long>();
            return (name, nan, total - nan);
        }
        return null;
    }

    /// <summary>Refuses a module with a NaN or infinite value.</summary>
    /// <param name="module">The loaded module.</param>
    /// <param name="source">The file or model directory the weights came from, for the message.</param>
    /// <exception cref="InvalidDataException">One line naming <paramref name="source"/>, the tensor and the counts.</exception>
    internal static void Require(nn.Module module, string source)
    {
        if (Find(module) is { } bad)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{source}: tensor '{bad.Name}' holds {bad.NaN} NaN and {bad.Infinite} infinite values; the model is corrupt (it would predict NaN scores)."));
    }
}
