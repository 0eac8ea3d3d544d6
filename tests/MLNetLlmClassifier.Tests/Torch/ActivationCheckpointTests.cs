using Microsoft.ML;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Tests.Qwen3;
using MLNetLlmClassifier.Torch;
using TorchSharp;
using static MLNetLlmClassifier.Tests.Qwen3.PromptedDecoderTestData;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Torch;

/// <summary>
/// Gradient checkpointing (<see cref="ActivationCheckpoint"/>): the gradients with it equal those without, for every parameter and
/// the layer input, with padding masks, frozen parameters, bfloat16 and dropout; and a training run gives the same losses.
/// </summary>
[TestClass]
public class ActivationCheckpointTests
{
    private static Qwen3Config SmallQwen3(double attentionDropout = 0) => new()
    {
        VocabSize = 256,
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 3,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        HeadDim = 8,
        MaxPositionEmbeddings = 64,
        RopeTheta = 10000,
        TieWordEmbeddings = false,
        AttentionDropout = attentionDropout,
    };

    private static (Tensor Ids, Tensor Mask) Batch()
    {
        var ids = randint(0, 256, [3, 10], dtype: ScalarType.Int64, generator: new Generator(5));
        var mask = ones(3, 10, dtype: ScalarType.Int64);
        mask[1, TensorIndex.Slice(7)] = tensor(0L); // right padding in one row, so the mask (a saved constant) matters
        return (ids, mask);
    }

    // Loss of the whole output, so every position's gradient counts; returns the gradients by parameter name (null = none).
    private static Dictionary<string, float[]?> Gradients(nn.Module model, Func<Tensor> loss, bool checkpointing, long seed = 3)
    {
        ICheckpointableModule.Apply(model, checkpointing);
        foreach (var p in model.parameters()) p.grad = null;
        model.train();
        torch.manual_seed(seed);
        using (var scope = NewDisposeScope())
            loss().backward();
        ActivationCheckpoint.ReleasePending();
        return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad is { } g ? g.to(ScalarType.Float32).data<float>().ToArray() : null);
    }

    private static void AssertSame(Dictionary<string, float[]?> expected, Dictionary<string, float[]?> actual, double tolerance)
    {
        Assert.HasCount(expected.Count, actual);
        foreach (var (name, e) in expected)
        {
            var a = actual[name];
            if (e is null) { Assert.IsNull(a, $"{name}: a gradient with checkpointing, none without"); continue; }
            Assert.IsNotNull(a, $"{name}: no gradient with checkpointing");
            double scale = Math.Max(1e-12, e.Max(v => Math.Abs(v)));
            double diff = e.Zip(a).Max(p => Math.Abs(p.First - p.Second));
            Assert.IsLessThanOrEqualTo(tolerance * scale, diff, $"{name}: max |difference| {diff:E3} (max |gradient| {scale:E3})");
        }
    }

    [TestMethod]
    public void Qwen3GradientsEqualThoseWithoutCheckpointing()
    {
        using var model = new Qwen3ForCausalLM(SmallQwen3(), seed: 1);
        var (ids, mask) = Batch();
        Tensor Loss() => model.Logits(ids, mask).pow(2).mean();
        var plain = Gradients(model, Loss, checkpointing: false);
        long before = ActivationCheckpoint.Recomputations;
        var checkpointed = Gradients(model, Loss, checkpointing: true);
        Assert.IsGreaterThanOrEqualTo(before + 3, ActivationCheckpoint.Recomputations, "the three layers were not recomputed in backward");
        AssertSame(plain, checkpointed, 1e-6);
    }

    [TestMethod]
    public void FrozenParametersGetNoGradientAndTheOthersTheSame()
    {
        // As a LoRA base: the embedding and the attention are frozen, so the first layer's input needs no gradient; the MLPs still learn.
        using var model = new Qwen3ForCausalLM(SmallQwen3(), seed: 2);
        foreach (var (name, p) in model.named_parameters())
            if (name.Contains("embed_tokens") || name.Contains("self_attn")) p.requires_grad = false;
        var (ids, mask) = Batch();
        Tensor Loss() => model.Logits(ids, mask).pow(2).mean();
        var plain = Gradients(model, Loss, checkpointing: false);
        var checkpointed = Gradients(model, Loss, checkpointing: true);
        Assert.IsNull(checkpointed["model.layers.0.self_attn.q_proj.weight"]);
        Assert.IsNotNull(checkpointed["model.layers.0.mlp.up_proj.weight"]);
        AssertSame(plain, checkpointed, 1e-6);
    }

    [TestMethod]
    public void BFloat16GradientsEqualThoseWithoutCheckpointing()
    {
        using var model = new Qwen3ForCausalLM(SmallQwen3(), seed: 3, dtype: ScalarType.BFloat16);
        var (ids, mask) = Batch();
        Tensor Loss() => model.Logits(ids, mask).to(ScalarType.Float32).pow(2).mean();
        // The recomputation runs the same bf16 kernels on the same inputs: the same numbers.
        AssertSame(Gradients(model, Loss, checkpointing: false), Gradients(model, Loss, checkpointing: true), 1e-6);
    }

    [TestMethod]
    public void DropoutIsRecomputedWithTheSameMasks()
    {
        // Qwen3 with attention dropout and BERT (hidden and attention dropout 0.1) in training mode: without the random state restored,
        // the recomputed masks differ and so do the gradients.
        using var qwen = new Qwen3ForCausalLM(SmallQwen3(attentionDropout: 0.3), seed: 4);
        var (ids, mask) = Batch();
        Tensor QwenLoss() => qwen.Logits(ids, mask).pow(2).mean();
        AssertSame(Gradients(qwen, QwenLoss, checkpointing: false), Gradients(qwen, QwenLoss, checkpointing: true), 1e-6);

        using var bert = new BertForSequenceClassification(BertConfig.Tiny(256), 3, seed: 5);
        Tensor BertLoss()
        {
            var output = bert.forward(ids, mask, null);
            return output.LastHiddenState.pow(2).mean() + output.Logits.pow(2).mean();
        }
        var plain = Gradients(bert, BertLoss, checkpointing: false);
        // Dropout is really on: another seed gives other gradients.
        var otherSeed = Gradients(bert, BertLoss, checkpointing: false, seed: 4);
        Assert.IsTrue(plain.Any(p => p.Value is not null && !p.Value.SequenceEqual(otherSeed[p.Key]!)), "dropout had no effect");
        AssertSame(plain, Gradients(bert, BertLoss, checkpointing: true), 1e-6);
    }

    [TestMethod]
    public void TrainingGivesTheSameLossesWithCheckpointing()
    {
        using var folder = new TinyQwen3Folder(seed: 1);
        var rows = Keywords(TopicClasses, TopicKeywords, 32, seed: 1);
        IReadOnlyList<float> Losses(bool checkpointing)
        {
            var ml = new MLContext(seed: 1);
            var options = new PromptedDecoderClassifierTrainer.Options
            {
                ModelPath = folder.Path,
                PromptTemplate = "{text}\n{options}\nAnswer:",
                MaxSequenceLength = 64,
                LearningRate = 5e-3,
                BatchSize = 8,
                GradientAccumulationSteps = 2,
                NumberOfEpochs = 1,
                Seed = 1,
                GradientCheckpointing = checkpointing,
            };
            var model = Pipeline(ml, ml.MulticlassClassification.Trainers.PromptedDecoderClassifier(options)).Fit(ml.Data.LoadFromEnumerable(rows));
            try { return Classifier(model).TrainingSummary!.StepLosses; }
            finally { DisposeAll(model); }
        }
        var plain = Losses(false);
        long before = ActivationCheckpoint.Recomputations;
        var checkpointed = Losses(true);
        Assert.IsGreaterThan(before, ActivationCheckpoint.Recomputations, "checkpointing did not run");
        Assert.HasCount(2, plain);
        for (int i = 0; i < plain.Count; i++)
            Assert.AreEqual(plain[i], checkpointed[i], 1e-5 * Math.Abs(plain[i]), $"step {i + 1}: {plain[i]} vs {checkpointed[i]}");
    }
}
