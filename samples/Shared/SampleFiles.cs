using System.IO.Compression;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Qwen3;

namespace Samples;

/// <summary>
/// What the samples share: command-line lookups, the data files they read from this repository (the AG News
/// sample, the bert-base-uncased vocabulary and the Qwen3 tokenizer that ship with the CLI), and the tiny random
/// checkpoints they train when no pretrained model is given. In your own code, point these at your data and a Hugging Face folder.
/// </summary>
internal static class SampleFiles
{
    /// <summary>The repository root: the first folder above the program holding MLNetLlmClassifier.sln.</summary>
    public static string RepoRoot => s_repoRoot ??= FindRepoRoot();
    private static string? s_repoRoot;

    /// <summary>The CLI's data folder (see its README.md for the origin of each file).</summary>
    public static string DataFolder => Path.Combine(RepoRoot, "src", "MLNetLlmClassifier.Cli", "Data");

    /// <summary>2,000 AG News test rows, 500 per class (CSV, no header: label 1–4, title, description).</summary>
    public static string AgNewsSample => Path.Combine(DataFolder, "ag_news_sample.csv");

    /// <summary>The standard bert-base-uncased WordPiece vocabulary.</summary>
    public static string BertVocab => Path.Combine(DataFolder, "bert-base-uncased-vocab.txt");

    /// <summary>Whether the command line has the flag <paramref name="name"/>.</summary>
    public static bool Flag(string[] args, string name) => args.Contains(name);

    /// <summary>The value after <paramref name="name"/> on the command line, or null.</summary>
    public static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return null;
        return i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{name} needs a value.");
    }

    /// <summary>
    /// A tiny random BERT (hidden 64, 2 layers) in the Hugging Face format, made once in <paramref name="folder"/>.
    /// No pretrained weights: it learns AG News from scratch, so its accuracy says nothing about bert-base.
    /// </summary>
    public static string TinyRandomBert(string folder)
    {
        if (!File.Exists(Path.Combine(folder, "model.safetensors")))
            BertFamily.Instance.CreateRandomCheckpoint(new RandomCheckpointRequest("tiny", BertVocab, folder, Seed: 1));
        return folder;
    }

    /// <summary>
    /// A tiny random Qwen3 (hidden 64, 2 layers, the real 151,936-token vocabulary) in the Hugging Face format, made once
    /// in <paramref name="folder"/> with the real Qwen3 tokenizer. Like <see cref="TinyRandomBert"/>, it learns from scratch.
    /// </summary>
    public static string TinyRandomQwen3(string folder)
    {
        if (File.Exists(Path.Combine(folder, "model.safetensors"))) return folder;
        string tokenizer = folder + "-tokenizer";   // tokenizer.json is shipped gzip-compressed
        Directory.CreateDirectory(tokenizer);
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(DataFolder, "qwen3-tokenizer.json.gz")), CompressionMode.Decompress))
        using (var json = File.Create(Path.Combine(tokenizer, "tokenizer.json")))
            gz.CopyTo(json);
        File.Copy(Path.Combine(DataFolder, "qwen3-tokenizer_config.json"), Path.Combine(tokenizer, "tokenizer_config.json"), overwrite: true);
        PromptedDecoderFamily.Instance.CreateRandomCheckpoint(new RandomCheckpointRequest("tiny", tokenizer, folder, Seed: 1));
        return folder;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLNetLlmClassifier.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException(
            $"No folder above {AppContext.BaseDirectory} holds MLNetLlmClassifier.sln: run the sample from the repository, or pass --data and the model folders.");
    }
}
