using System.Reflection;
using MLNetLlmClassifier.Data;

namespace MLNetLlmClassifier.Cli;

/// <summary>
/// Data files shipped inside the CLI assembly (everything under <c>Data/</c> is an embedded resource). The default
/// data set is <c>ag_news_sample.csv</c>: 2,000 AG News test rows, 500 per class (see Data/README.md).
/// </summary>
public static class EmbeddedData
{
    /// <summary>File name of the embedded AG News sample.</summary>
    public const string AgNewsSampleFileName = "ag_news_sample.csv";

    /// <summary>Opens an embedded file of <c>Data/</c> by its file name.</summary>
    /// <exception cref="FileNotFoundException">No such resource (lists the ones there are).</exception>
    public static Stream Open(string fileName)
    {
        var assembly = typeof(EmbeddedData).Assembly;
        // MSBuild names Data/x.csv "<RootNamespace>.Data.x.csv".
        string suffix = ".Data." + fileName;
        string? name = assembly.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith(suffix, StringComparison.Ordinal));
        return (name is null ? null : assembly.GetManifestResourceStream(name))
            ?? throw new FileNotFoundException(
                $"Embedded data file '{fileName}' is not in {assembly.GetName().Name}; it has: {string.Join(", ", assembly.GetManifestResourceNames())}.",
                fileName);
    }

    /// <summary>
    /// Writes the embedded Qwen3 tokenizer (tokenizer.json, tokenizer_config.json) into <paramref name="folder"/>,
    /// for building tiny random Qwen3 checkpoints without any download.
    /// </summary>
    public static void WriteQwen3Tokenizer(string folder)
    {
        Directory.CreateDirectory(folder);
        using (var gz = new System.IO.Compression.GZipStream(Open("qwen3-tokenizer.json.gz"), System.IO.Compression.CompressionMode.Decompress))
        using (var f = File.Create(Path.Combine(folder, "tokenizer.json")))
            gz.CopyTo(f);
        using (var s = Open("qwen3-tokenizer_config.json"))
        using (var f = File.Create(Path.Combine(folder, "tokenizer_config.json")))
            s.CopyTo(f);
    }

    /// <summary>Writes the embedded bert-base-uncased vocabulary to <paramref name="path"/>.</summary>
    public static void WriteBertVocab(string path)
    {
        using var s = Open("bert-base-uncased-vocab.txt");
        using var f = File.Create(path);
        s.CopyTo(f);
    }

    /// <summary>The tokenizer bundles the CLI embeds, by the name a family gives as its <see cref="Families.ClassifierFamily.DefaultTokenizer"/>.</summary>
    public static IReadOnlyList<string> TokenizerBundles { get; } = ["bert-base-uncased", "qwen3"];

    /// <summary>
    /// Writes the embedded tokenizer bundle <paramref name="bundle"/> into <paramref name="folder"/> and returns what a
    /// <see cref="Families.RandomCheckpointRequest.Tokenizer"/> takes: the bare uncased vocab.txt for BERT, the tokenizer folder for Qwen3.
    /// </summary>
    public static string WriteTokenizer(string bundle, string folder)
    {
        Directory.CreateDirectory(folder);
        if (bundle == "bert-base-uncased")
        {
            var vocab = Path.Combine(folder, "bert-base-uncased-vocab.txt");
            if (!File.Exists(vocab)) WriteBertVocab(vocab);
            return vocab;
        }
        if (bundle == "qwen3")
        {
            var tokenizer = Path.Combine(folder, "qwen3-tokenizer");
            if (!File.Exists(Path.Combine(tokenizer, "tokenizer_config.json"))) WriteQwen3Tokenizer(tokenizer);
            return tokenizer;
        }
        throw new ArgumentException($"No embedded tokenizer '{bundle}': the CLI embeds {string.Join(", ", TokenizerBundles)}; give a tokenizer explicitly.");
    }

    /// <summary>
    /// The tiny random checkpoint of <paramref name="family"/> in <paramref name="modelsFolder"/> (first preset, seed 1, the embedded
    /// tokenizer), built on first use and kept between runs.
    /// </summary>
    public static string TinyRandomCheckpoint(Families.ClassifierFamily family, string modelsFolder)
    {
        var path = Path.Combine(modelsFolder, $"{family.Name}-tiny-random");
        if (File.Exists(Path.Combine(path, "model.safetensors"))) return path;
        if (!family.UsesCheckpoint || family.RandomPresets.Count == 0 || family.DefaultTokenizer is null)
            throw new ArgumentException($"The {family.Name} family has no random checkpoints.");
        var tokenizer = WriteTokenizer(family.DefaultTokenizer, modelsFolder);
        family.CreateRandomCheckpoint(new Families.RandomCheckpointRequest(family.RandomPresets[0], tokenizer, path, Seed: 1, Lowercase: true));
        return path;
    }

    /// <summary>Opens the embedded AG News sample (CSV, no header: label 1–4, title, description).</summary>
    public static Stream OpenAgNewsSample() => Open(AgNewsSampleFileName);

    /// <summary>Loads the embedded AG News sample as a table (text = title + " " + description).</summary>
    /// <param name="renameLabels">True for class names (World, Sports, Business, Sci/Tech), false for "1".."4".</param>
    public static TextClassificationTable LoadAgNewsSample(bool renameLabels = false)
    {
        using var stream = OpenAgNewsSample();
        return TextClassificationFile.Load(stream, $"(embedded) {AgNewsSampleFileName}", AgNews.Options(renameLabels));
    }
}
