using System.Text.Json.Nodes;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Checkpoints;

/// <summary>
/// Randomly initialised checkpoint folders in the Hugging Face format (config.json, model.safetensors,
/// tokenizer files), for tests, demos and benchmarks where no pretrained weights can be downloaded.
/// They load exactly like real checkpoints.
/// </summary>
public static class RandomCheckpoint
{
    /// <summary>BERT presets: <c>tiny</c> (hidden 64, 2 layers) and <c>bert-base</c> (the bert-base shape, 110M parameters).</summary>
    public static IReadOnlyList<string> BertPresets { get; } = ["tiny", "bert-base"];

    /// <summary>
    /// Writes a random BERT checkpoint with its tokenizer to <paramref name="outDir"/>. <paramref name="vocab"/> is
    /// a vocab.txt file (then <paramref name="lowercase"/> says whether it is an uncased vocabulary) or a tokenizer folder.
    /// The folder appears whole or not at all.
    /// </summary>
    public static void CreateBert(string preset, string vocab, bool lowercase, string outDir, int seed)
    {
        BuildFolderAtomically(outDir, tmp =>
        {
            if (Directory.Exists(vocab)) TokenizerFolder.CopyTokenizerFiles(vocab, tmp);
            else if (File.Exists(vocab))
            {
                File.Copy(vocab, Path.Combine(tmp, "vocab.txt"));
                HfModelFolder.WriteJson(Path.Combine(tmp, "tokenizer_config.json"), new JsonObject
                {
                    ["tokenizer_class"] = "BertTokenizer",
                    ["do_lower_case"] = lowercase,
                    ["model_max_length"] = 512,
                });
            }
            else throw new FileNotFoundException($"Vocabulary '{vocab}' is neither a file nor a folder.", vocab);
            var tokenizer = BertWordPieceTokenizer.FromFolder(tmp);
            var config = preset switch
            {
                "tiny" => BertConfig.Tiny(tokenizer.VocabSize),
                "bert-base" => BertConfig.BertBase(tokenizer.VocabSize),
                _ => throw new ArgumentException($"Preset '{preset}' is not a BERT preset: use {string.Join(" or ", BertPresets)}.", nameof(preset)),
            };
            BertForSequenceClassification.CreateRandomCheckpoint(config, tmp, seed);
        });
    }

    /// <summary>Qwen3 presets: <c>tiny</c> (hidden 64, 2 layers, the real 151,936-token vocabulary, fp32) and <c>qwen3-0.6b</c> (Qwen/Qwen3-0.6B's shape, bf16).</summary>
    public static IReadOnlyList<string> Qwen3Presets { get; } = ["tiny", "qwen3-0.6b"];

    /// <summary>
    /// Writes a random Qwen3 checkpoint with the tokenizer files of <paramref name="tokenizerFolder"/> (tokenizer.json,
    /// tokenizer_config.json) to <paramref name="outDir"/>, in the dtype of the preset's config (bf16 for qwen3-0.6b,
    /// as the published checkpoint). The folder appears whole or not at all.
    /// </summary>
    public static void CreateQwen3(string preset, string tokenizerFolder, string outDir, int seed)
    {
        var config = preset switch
        {
            "tiny" => Qwen3.Qwen3Config.Tiny(),
            "qwen3-0.6b" => Qwen3.Qwen3Config.Qwen3_0_6B(),
            _ => throw new ArgumentException($"Preset '{preset}' is not a Qwen3 preset: use {string.Join(" or ", Qwen3Presets)}.", nameof(preset)),
        };
        BuildFolderAtomically(outDir, tmp =>
        {
            TokenizerFolder.CopyTokenizerFiles(tokenizerFolder, tmp);
            var tokenizer = Qwen3Tokenizer.FromFolder(tmp);
            if (tokenizer.VocabSize > config.VocabSize)
                throw new ArgumentException($"The tokenizer in '{tokenizerFolder}' has {tokenizer.VocabSize} tokens, more than the preset's vocab_size {config.VocabSize}.");
            Qwen3.Qwen3ForCausalLM.CreateRandomCheckpoint(config, tmp, seed, config.WeightDtype);
        });
    }

    /// <summary>
    /// Builds a folder next to its destination and renames it into place, so that a failure leaves
    /// nothing half-written. The destination must not exist or be empty.
    /// </summary>
    public static void BuildFolderAtomically(string outDir, Action<string> build)
    {
        var full = Path.GetFullPath(outDir);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new IOException($"'{outDir}' exists and is not empty.");
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + $".tmp-{Guid.NewGuid():N}";
        Directory.CreateDirectory(tmp);
        try
        {
            build(tmp);
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(tmp, full);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }
}
