using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Tests.Cli;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Training;

/// <summary>The Qwen3 size presets (configs only: nothing of their size is built) and the training-memory estimate's arithmetic.</summary>
[TestClass]
public class MemoryEstimateTests
{
    [TestMethod]
    [DataRow("qwen3-1.7b", 2048, 6144, 28, 16, true)]
    [DataRow("qwen3-4b", 2560, 9728, 36, 32, true)]
    [DataRow("qwen3-8b", 4096, 12288, 36, 32, false)]
    public void PresetsAreTheReleasedConfigs(string preset, int hidden, int intermediate, int layers, int heads, bool tied)
    {
        CollectionAssert.Contains(PromptedDecoderFamily.Instance.RandomPresets.ToList(), preset);
        var c = PromptedDecoderFamily.PresetConfig(preset)!;
        Assert.AreEqual((151936, hidden, intermediate, layers, heads, 8, 128, tied), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.TieWordEmbeddings));
        Assert.AreEqual((40960, 1_000_000.0, 1e-6, "bfloat16"), (c.MaxPositionEmbeddings, c.RopeTheta, c.RmsNormEps, c.TorchDtype));
        Assert.AreEqual((151643, 151645), (c.BosTokenId, c.EosTokenIds.Single()));
        c.Validate();
        StringAssert.Contains(c.ToJson(), $"\"max_window_layers\": {layers},");
    }

    [TestMethod]
    public void ParameterCountsMatchTheModelCards()
    {
        // Qwen3 model cards: 0.6B (0.44B non-embedding), 1.7B (1.4B), 4.0B (3.6B), 8.2B (6.95B); 0.6B's exact count is 596,049,920.
        Assert.AreEqual(596_049_920, MemoryEstimate.CountParameters(Qwen3Config.Qwen3_0_6B()));
        foreach (var (c, total, nonEmbedding) in new[] { (Qwen3Config.Qwen3_1_7B(), 1.7, 1.4), (Qwen3Config.Qwen3_4B(), 4.0, 3.6), (Qwen3Config.Qwen3_8B(), 8.2, 6.95) })
        {
            long p = MemoryEstimate.CountParameters(c);
            long embedding = (long)c.VocabSize * c.HiddenSize * (c.TieWordEmbeddings ? 1 : 2);
            Assert.AreEqual(total, Math.Round(p / 1e9, 1), $"{c}: {p}");
            Assert.AreEqual(nonEmbedding, Math.Round((p - embedding) / 1e9, nonEmbedding == 6.95 ? 2 : 1), $"{c}: {p - embedding} without embeddings");
        }
    }

    [TestMethod]
    public void ParameterCountEqualsABuiltModel()
    {
        var untiedWithBias = new Qwen3Config
        {
            VocabSize = 300,
            HiddenSize = 48,
            IntermediateSize = 80,
            NumHiddenLayers = 3,
            NumAttentionHeads = 6,
            NumKeyValueHeads = 2,
            HeadDim = 16,
            TieWordEmbeddings = false,
            AttentionBias = true,
        };
        foreach (var c in new[] { Qwen3Config.Tiny(), untiedWithBias })
        {
            using var model = new Qwen3ForCausalLM(c, seed: 1);
            Assert.AreEqual(model.parameters().Sum(p => p.numel()), MemoryEstimate.CountParameters(c), c.ToString());
        }
    }

    [TestMethod]
    public void AdapterCountIsRankTimesInPlusOut()
    {
        var c = Qwen3Config.Qwen3_0_6B();
        // PEFT's count for Qwen3-0.6B with r = 16 on all linear layers.
        Assert.AreEqual(10_092_544, MemoryEstimate.CountAdapterParameters(c, 16, LoraTargets.Parse("all-linear")));
        // q_proj: 1024 -> 2048, v_proj: 1024 -> 1024.
        Assert.AreEqual(28L * 8 * ((1024 + 2048) + (1024 + 1024)), MemoryEstimate.CountAdapterParameters(c, 8, LoraTargets.Parse("q_proj, v_proj")));
        Assert.ThrowsExactly<ArgumentException>(() => LoraTargets.Parse("lm_head"));
    }

    private static MemoryPlan Plan(Qwen3Config c, bool bf16 = false, TrainedParameters trained = TrainedParameters.Full, bool checkpointing = false, int batch = 4, int length = 64) =>
        new(c, batch, length, bf16, trained, 16, LoraTargets.AllLinear, checkpointing, 2, c.VocabSize);

    [TestMethod]
    public void ComponentsFollowTheFormulas()
    {
        var c = Qwen3Config.Qwen3_0_6B();
        long p = MemoryEstimate.CountParameters(c);
        long a = MemoryEstimate.CountAdapterParameters(c, 16, LoraTargets.AllLinear);

        var fp32 = MemoryEstimate.For(Plan(c));
        Assert.AreEqual((4.0 * p, 4.0 * p, 8.0 * p), (fp32.Weights, fp32.Gradients, fp32.Optimizer));
        var bf16 = MemoryEstimate.For(Plan(c, bf16: true));
        Assert.AreEqual((2.0 * p, 2.0 * p, 12.0 * p), (bf16.Weights, bf16.Gradients, bf16.Optimizer), "bf16: moments and an fp32 master copy");
        // The tied 151,936 x 1024 embedding: two dense gradients and their sum at the end of backward, two beyond the gradient.
        Assert.AreEqual(2.0 * 2 * 151936 * 1024, bf16.TiedEmbeddingTransient);
        var lora = MemoryEstimate.For(Plan(c, bf16: true, trained: TrainedParameters.Lora));
        Assert.AreEqual((2.0 * p + 4.0 * a, 4.0 * a, 8.0 * a, 0.0), (lora.Weights, lora.Gradients, lora.Optimizer, lora.TiedEmbeddingTransient), "LoRA: frozen bf16 base, fp32 adapters");

        // Activations: L layers without checkpointing; with it, L layer inputs (B·T·D·s) and one layer recomputed.
        double n = 4 * 64;
        Assert.AreEqual(MemoryEstimate.ActivationBytesPerToken(c, 2) * n, bf16.ActivationsPerLayer, 1e-6);
        Assert.AreEqual(28 * bf16.ActivationsPerLayer, bf16.Activations, 1e-3);
        var checkpointed = MemoryEstimate.For(Plan(c, bf16: true, checkpointing: true));
        Assert.AreEqual(28 * n * 1024 * 2 + bf16.ActivationsPerLayer, checkpointed.Activations, 1e-3);
        Assert.AreEqual(2 * bf16.ActivationsPerLayer, MemoryEstimate.For(Plan(c, bf16: true, batch: 8)).ActivationsPerLayer, 1e-3, "linear in the batch");
        // The logits are only the answer positions: 4 rows x 2 positions x the vocabulary, kept and backpropagated in s + 8 + 4 + s bytes.
        Assert.AreEqual(4.0 * 2 * 151936 * (2 + 8 + 4 + 2), bf16.Logits);

        // Accumulation keeps every gradient alive during the later micro-batches.
        var accumulated = MemoryEstimate.For(Plan(c, bf16: true) with { GradientAccumulationSteps = 8 });
        Assert.AreEqual(bf16.HeldGradients + bf16.Gradients, accumulated.HeldGradients);
        Assert.AreEqual(bf16.BackwardPeak + bf16.Gradients, accumulated.BackwardPeak, 1e-3);

        Assert.ThrowsExactly<ArgumentException>(() => MemoryEstimate.For(Plan(c, batch: 0)));
        Assert.ThrowsExactly<ArgumentException>(() => MemoryEstimate.For(Plan(c) with { LogitPositions = 65 }));
    }

    [TestMethod]
    public void LoraAndCheckpointingLowerThePeakOfTheReferenceRun()
    {
        // The reference settings (batch 12 x 512, bf16) on Qwen3-8B's shape.
        var c = Qwen3Config.Qwen3_8B();
        MemoryEstimate E(TrainedParameters t, bool ckpt) => MemoryEstimate.For(Plan(c, bf16: true, trained: t, checkpointing: ckpt, batch: 12, length: 512));
        var full = E(TrainedParameters.Full, false);
        var lora = E(TrainedParameters.Lora, false);
        var both = E(TrainedParameters.Lora, true);
        Assert.IsLessThan(full.Peak, E(TrainedParameters.Full, true).Peak);
        Assert.IsLessThan(full.Peak, lora.Peak);
        Assert.IsLessThan(lora.Peak, both.Peak);
        Assert.IsFalse(full.FitsGpu(80), $"full fine-tuning of 8B: {MemoryEstimate.Gib(full.Peak)}");
        Assert.IsTrue(both.FitsGpu(24), $"LoRA + checkpointing of 8B: {MemoryEstimate.Gib(both.Peak)}");
    }

    [TestMethod]
    public void CliPrintsTheBreakdownAndTheVariants()
    {
        var (code, output) = CliTests.Run("estimate-memory", "--model", "qwen3-8b", "--lora-rank", "16", "--gradient-checkpointing", "--grad-accum", "8");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, $"{MemoryEstimate.CountParameters(Qwen3Config.Qwen3_8B()):N0} parameters");
        StringAssert.Contains(output, "LoRA r16 on q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj");
        StringAssert.Contains(output, "8 micro-batch(es) per step");
        foreach (var line in new[] { "weights", "gradients", "AdamW state", "activations, all layers", "logits and loss", "peak (tensors)", "fits (peak + ", "LoRA r16 all-linear + checkpointing" })
            StringAssert.Contains(output, line);

        (code, output) = CliTests.Run("estimate-memory", "--model", "qwen3-3b");
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "neither a folder nor a Qwen3 preset");
    }

    [TestMethod]
    public void AConfigFileIsAPresetToo()
    {
        using var tmp = new TempFolder();
        var path = Path.Combine(tmp.Path, "mid.json");
        var c = Qwen3Config.Tiny();
        c.HiddenSize = 96;
        File.WriteAllText(path, c.ToJson());
        Assert.AreEqual(96, PromptedDecoderFamily.PresetConfig(path)!.HiddenSize);
        Assert.IsNull(PromptedDecoderFamily.PresetConfig("qwen3-3b"));
    }
}
