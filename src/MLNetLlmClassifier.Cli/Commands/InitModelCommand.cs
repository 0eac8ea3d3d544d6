using System.CommandLine;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm init-model</c>: a randomly initialised checkpoint folder in the Hugging Face format
/// (config.json, model.safetensors, tokenizer files), for tests, demos and benchmarks where no
/// pretrained weights can be downloaded.
/// </summary>
internal static class InitModelCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "bert", Required = true };
        var preset = new Option<string>("--preset") { Description = "bert: tiny or bert-base.", Required = true };
        var vocab = new Option<string?>("--vocab") { Description = "bert: a vocab.txt file, or a tokenizer folder (vocab.txt/tokenizer.json, tokenizer_config.json)." };
        var lowercase = new Option<bool>("--lowercase") { Description = "bert with a bare vocab.txt: whether the tokenizer lower-cases (uncased vocab). Default true.", DefaultValueFactory = _ => true };
        var output = new Option<string>("--out") { Description = "Folder to create (must not exist or be empty).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Random seed. Default 1.", DefaultValueFactory = _ => 1 };
        var cmd = new Command("init-model", "Create a randomly initialised model folder in the Hugging Face format.");
        foreach (var o in new Option[] { arch, preset, vocab, lowercase, output, seed }) cmd.Options.Add(o);
        cmd.SetAction(r => CliCommon.Run(() =>
        {
            var dir = r.GetValue(output)!;
            switch (r.GetValue(arch))
            {
                case "bert":
                    CreateBert(r.GetValue(preset)!, r.GetValue(vocab) ?? throw new ArgumentException("--vocab is required for --arch bert."),
                        r.GetValue(lowercase), dir, r.GetValue(seed));
                    break;
                default:
                    throw new ArgumentException($"--arch '{r.GetValue(arch)}' is not an architecture: use bert.");
            }
            Console.WriteLine($"Created {dir}.");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Writes a random BERT checkpoint with its tokenizer into <paramref name="outDir"/>, atomically (a sibling temp folder renamed at the end).</summary>
    public static void CreateBert(string preset, string vocab, bool lowercase, string outDir, int seed)
    {
        WithTempFolder(outDir, tmp =>
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
            else throw new FileNotFoundException($"--vocab '{vocab}' is neither a file nor a folder.", vocab);
            var tokenizer = BertWordPieceTokenizer.FromFolder(tmp);
            var config = preset switch
            {
                "tiny" => BertConfig.Tiny(tokenizer.VocabSize),
                "bert-base" => BertConfig.BertBase(tokenizer.VocabSize),
                _ => throw new ArgumentException($"--preset '{preset}' is not a BERT preset: use tiny or bert-base."),
            };
            BertForSequenceClassification.CreateRandomCheckpoint(config, tmp, seed);
        });
    }

    /// <summary>Builds a folder next to its destination and renames it into place, so a failure leaves nothing half-written.</summary>
    internal static void WithTempFolder(string outDir, Action<string> build)
    {
        var full = Path.GetFullPath(outDir);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new IOException($"--out '{outDir}' exists and is not empty.");
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
