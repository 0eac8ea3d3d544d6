using MLNetLlmClassifier.Bert;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary><c>init-model --from-onnx</c> and the pretrained presets of <c>init-model --preset</c> (see <see cref="PretrainedModels"/>).</summary>
internal static class InitModelFromOnnx
{
    /// <summary>Handles the two cases; false when neither applies (a random checkpoint is asked for).</summary>
    public static bool Run(string? onnx, string? preset, string? vocab, bool? lowercase, string output)
    {
        if (onnx is not null)
        {
            if (preset is not null) throw new ArgumentException("Give either --from-onnx or --preset, not both.");
            if (vocab is null) throw new ArgumentException("--from-onnx needs --vocab (the model's vocab.txt).");
            var config = BertOnnxImport.Convert(onnx, vocab, output, lowercase, Console.WriteLine);
            Console.WriteLine($"Created {output} (bert from {onnx}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, " +
                              $"{config.NumAttentionHeads} heads, vocabulary {config.VocabSize}).");
            return true;
        }
        if (PretrainedModels.Find(preset) is not { } entry) return false;
        PretrainedModels.CopyTo(entry, output, Console.WriteLine);
        Console.WriteLine($"Created {output} ({entry.Description}; converted once into {entry.Folder}).");
        return true;
    }
}
