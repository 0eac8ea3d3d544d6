using System.CommandLine;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Torch;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm logits</c>: our forward pass over token ids, for parity checks against any reference
/// (Hugging Face transformers, the CUDA path). See <see cref="LogitsJsonl.RunJsonl"/> for the fields.
/// </summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face folder (Qwen3 or BERT).", Required = true };
        var input = new Option<string>("--input") { Description = "JSONL of {\"ids\": [...]} lines (BERT may add \"token_type_ids\").", Required = true };
        var output = new Option<string>("--output") { Description = "JSONL to write: each line plus logits/hidden (and pooled for BERT).", Required = true };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N. Default cpu.", DefaultValueFactory = _ => "cpu" };
        var precision = new Option<string>("--precision") { Description = "float32 or bfloat16. Default float32.", DefaultValueFactory = _ => "float32" };
        var cmd = new Command("logits", "Write the model's logits and hidden states for token id sequences (parity checks).");
        foreach (var o in new Option[] { model, input, output, device, precision }) cmd.Options.Add(o);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var dtype = r.GetValue(precision)!.ToLowerInvariant() switch
            {
                "float32" or "fp32" => ScalarType.Float32,
                "bfloat16" or "bf16" => ScalarType.BFloat16,
                var p => throw new ArgumentException($"--precision '{p}' is not float32 or bfloat16."),
            };
            LogitsJsonl.RunJsonl(r.GetValue(model)!, r.GetValue(input)!, r.GetValue(output)!, TorchDevice.Resolve(r.GetValue(device), "--device"), dtype);
            return 0;
        }));
        return cmd;
    }
}
