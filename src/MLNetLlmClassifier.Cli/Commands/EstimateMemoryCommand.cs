using System.CommandLine;
using System.Globalization;
using System.Text;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm estimate-memory</c>: the peak memory of a Qwen3 training step, component by component, from the model's
/// configuration alone (a folder's config.json or a preset name: nothing is allocated, so the 8B shape is sized anywhere), and which
/// GPU sizes it fits. The arithmetic is <see cref="MemoryEstimate"/>; docs/memory.md gives the formulas and checks them against
/// measured peaks (<c>bench</c> prints the train phase's measured peak).
/// </summary>
internal static class EstimateMemoryCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"A Qwen3 model folder (its config.json) or a preset: tiny, {string.Join(", ", Qwen3Config.ReleasedPresets.Keys)}.", Required = true };
        var batch = new Option<int>("--batch-size") { Description = "Rows per forward pass. Default 12.", DefaultValueFactory = _ => 12 };
        var length = new Option<int>("--max-length") { Description = "Tokens per row (the longest row of a batch). Default 512.", DefaultValueFactory = _ => 512 };
        var precision = new Option<string>("--precision") { Description = "bfloat16 or float32. Default bfloat16.", DefaultValueFactory = _ => "bfloat16" };
        var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank; 0 = full fine-tuning. Default 0." };
        var loraTargets = new Option<string>("--lora-targets") { Description = "all-linear or a list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj. Default all-linear.", DefaultValueFactory = _ => "all-linear" };
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "Recompute each layer in backward." };
        var answerLoss = new Option<AnswerLoss>("--answer-loss") { Description = "FullVocabulary (logits over the vocabulary at the answer positions) or Options (over the options). Default FullVocabulary.", DefaultValueFactory = _ => AnswerLoss.FullVocabulary };
        var answerTokens = new Option<int>("--answer-tokens") { Description = "Answer positions per row with the full-vocabulary loss (marker tokens + end of turn). Default 2.", DefaultValueFactory = _ => 2 };
        var accumulation = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step (gradients stay alive across them). Default 1.", DefaultValueFactory = _ => 1 };
        var classes = new Option<int>("--classes") { Description = "Number of classes (the options loss's logits). Default 4.", DefaultValueFactory = _ => 4 };
        var cmd = new Command("estimate-memory", "Estimate the peak memory of training a Qwen3 model (weights, gradients, AdamW, activations, logits) and the GPU sizes it fits, without loading it.");
        foreach (var o in new Option[] { model, batch, length, precision, loraRank, loraTargets, checkpointing, accumulation, answerLoss, answerTokens, classes }) cmd.Options.Add(o);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var config = ReadConfig(r.GetValue(model)!);
            bool bf16 = Qwen3Config.ParseDtype(r.GetValue(precision)!, "--precision") switch
            {
                TorchSharp.torch.ScalarType.BFloat16 => true,
                TorchSharp.torch.ScalarType.Float32 => false,
                _ => throw new ArgumentException("--precision must be bfloat16 or float32."),
            };
            int rank = r.GetValue(loraRank);
            if (rank < 0) throw new ArgumentException($"--lora-rank {rank} must be >= 0 (0 = full fine-tuning).");
            var options = r.GetValue(answerLoss) == AnswerLoss.Options;
            var plan = new MemoryPlan(config, r.GetValue(batch), r.GetValue(length), bf16, rank > 0 ? TrainedParameters.Lora : TrainedParameters.Full,
                rank, LoraTargets.Parse(r.GetValue(loraTargets)!), r.GetValue(checkpointing),
                options ? 1 : r.GetValue(answerTokens), options ? r.GetValue(classes) : config.VocabSize,
                GradientAccumulationSteps: r.GetValue(accumulation));
            Console.Write(Report(plan));
            return 0;
        }));
        return cmd;
    }

    /// <summary>A folder's config.json, or a preset's configuration.</summary>
    internal static Qwen3Config ReadConfig(string model)
    {
        if (Directory.Exists(model)) return Qwen3Config.Load(Path.Combine(model, "config.json"));
        if (File.Exists(model)) return Qwen3Config.Load(model);
        return PromptedDecoderFamily.PresetConfig(model)
            ?? throw new ArgumentException($"--model '{model}' is neither a folder nor a Qwen3 preset ({string.Join(", ", PromptedDecoderFamily.Instance.RandomPresets)}).");
    }

    /// <summary>The breakdown of <paramref name="plan"/>, then one line per variant (full / LoRA, checkpointing off / on) at the same batch.</summary>
    internal static string Report(MemoryPlan plan)
    {
        var sb = new StringBuilder(MemoryEstimate.For(plan).Format()).AppendLine().AppendLine();
        int rank = plan.LoraRank > 0 ? plan.LoraRank : 16;
        var targets = plan.LoraRank > 0 ? plan.LoraTargetModules : LoraTargets.AllLinear;
        string loraName = plan.LoraRank > 0 && plan.LoraTargetModules.Count != LoraTargets.AllLinear.Length ? $"LoRA r{rank}" : $"LoRA r{rank} all-linear";
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"The same batch ({plan.BatchSize} x {plan.SequenceLength}, {(plan.BFloat16 ? "bf16" : "fp32")}, {plan.GradientAccumulationSteps} micro-batch(es) per step):"));
        sb.AppendLine($"  {"training",-40} {"peak",10}  fits (GB, with {MemoryEstimate.Gib(MemoryEstimate.CudaRuntimeBytes)} of CUDA runtime)");
        foreach (var (name, lora, ckpt) in new[] { ("full fine-tuning", false, false), ("full fine-tuning + checkpointing", false, true), (loraName, true, false), (loraName + " + checkpointing", true, true) })
        {
            var e = MemoryEstimate.For(plan with { Trained = lora ? TrainedParameters.Lora : TrainedParameters.Full, LoraRank = rank, LoraTargetModules = targets, GradientCheckpointing = ckpt });
            var fits = MemoryEstimate.GpuSizes.Where(e.FitsGpu).Select(g => g.ToString("0", CultureInfo.InvariantCulture)).ToList();
            sb.AppendLine($"  {name,-40} {MemoryEstimate.Gib(e.Peak),10}  {(fits.Count == 0 ? "none of " + string.Join("/", MemoryEstimate.GpuSizes) : string.Join(", ", fits))}");
        }
        return sb.ToString();
    }
}
