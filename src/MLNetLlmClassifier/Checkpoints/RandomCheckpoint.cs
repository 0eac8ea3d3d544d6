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
