using System.CommandLine;
using MLNetLlmClassifier.Checkpoints;

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
        var arch = new Option<string>("--arch") { Description = "bert or qwen3", Required = true };
        var preset = new Option<string>("--preset") { Description = "bert: tiny or bert-base; qwen3: tiny or qwen3-0.6b.", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "qwen3: a folder with tokenizer.json and tokenizer_config.json (e.g. the Qwen3 tokenizer)." };
        var vocab = new Option<string?>("--vocab") { Description = "bert: a vocab.txt file, or a tokenizer folder (vocab.txt/tokenizer.json, tokenizer_config.json)." };
        var lowercase = new Option<bool>("--lowercase") { Description = "bert with a bare vocab.txt: whether the tokenizer lower-cases (uncased vocab). Default true.", DefaultValueFactory = _ => true };
        var output = new Option<string>("--out") { Description = "Folder to create (must not exist or be empty).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Random seed. Default 1.", DefaultValueFactory = _ => 1 };
        var cmd = new Command("init-model", "Create a randomly initialised model folder in the Hugging Face format.");
        foreach (var o in new Option[] { arch, preset, vocab, tokenizer, lowercase, output, seed }) cmd.Options.Add(o);
        cmd.SetAction(r => CliCommon.Run(() =>
        {
            var dir = r.GetValue(output)!;
            switch (r.GetValue(arch))
            {
                case "bert":
                    RandomCheckpoint.CreateBert(r.GetValue(preset)!, r.GetValue(vocab) ?? throw new ArgumentException("--vocab is required for --arch bert."),
                        r.GetValue(lowercase), dir, r.GetValue(seed));
                    break;
                case "qwen3":
                    RandomCheckpoint.CreateQwen3(r.GetValue(preset)!, r.GetValue(tokenizer) ?? throw new ArgumentException("--tokenizer is required for --arch qwen3."),
                        dir, r.GetValue(seed));
                    break;
                default:
                    throw new ArgumentException($"--arch '{r.GetValue(arch)}' is not an architecture: use bert or qwen3.");
            }
            Console.WriteLine($"Created {dir}.");
            return 0;
        }));
        return cmd;
    }
}
