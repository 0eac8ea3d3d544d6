using Microsoft.ML;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Text;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier;

/// <summary>Numeric precision of training and inference.</summary>
public enum Precision
{
    /// <summary>bfloat16 (with fp32 master weights for training) on CUDA, and on a CPU with native bfloat16 instructions (AVX512-BF16,
    /// AMX) for models of hidden size 256 or more (<see cref="Torch.TorchDevice.AutoDtype(TorchSharp.torch.Device, long?)"/>); float32 otherwise.</summary>
    Auto,
    /// <summary>float32 everywhere.</summary>
    Float32,
    /// <summary>bfloat16 weights and activations with fp32 master weights in the optimizer. On the CPU this works but is slow.</summary>
    BFloat16,
}

/// <summary>How classes are weighted in the training loss.</summary>
public enum ClassWeighting
{
    /// <summary>Every row counts the same.</summary>
    None,
    /// <summary>Rows are weighted by n / (classes × n_class), so that rare classes count as much as frequent ones (imbalanced labels).</summary>
    Balanced,
}

/// <summary>
/// Options shared by the transformer trainers (<see cref="Bert.BertTextClassificationTrainer"/> and
/// the prompted decoder). Each trainer's Options class derives from
/// this one and sets its own defaults in its constructor. Every option is checked when the estimator
/// is made; a bad value is an <see cref="ArgumentOutOfRangeException"/> naming the option.
/// </summary>
public abstract class TransformerTrainerOptions
{
    /// <summary>Label column: a key type (use MapValueToKey). Default "Label".</summary>
    public string LabelColumnName { get; set; } = "Label";

    /// <summary>Output column of class probabilities. Default "Score".</summary>
    public string ScoreColumnName { get; set; } = "Score";

    /// <summary>Output key column of the predicted class. Default "PredictedLabel".</summary>
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";

    /// <summary>A Hugging Face model folder (config.json, model.safetensors or a sharded index, tokenizer files). Required.</summary>
    public string? ModelPath { get; set; }

    /// <summary>Maximum tokens per row, special tokens (and prompt) included; longer text is truncated. Default set by each trainer.</summary>
    [CommandLineAlias("--max-length")]
    public int MaxSequenceLength { get; set; } = 512;

    /// <summary>Which end of an over-long text is cut. Default <see cref="TruncationSide.Right"/> (keep the beginning).</summary>
    [CommandLineAlias("--truncation")]
    public TruncationSide Truncation { get; set; } = TruncationSide.Right;

    /// <summary>Peak learning rate of AdamW. Default set by each trainer.</summary>
    [CommandLineAlias("--lr")]
    public double LearningRate { get; set; } = 2e-5;

    /// <summary>Decay of the learning rate after warmup. Default <see cref="LearningRateSchedule.Cosine"/>.</summary>
    [CommandLineAlias("--schedule")]
    public LearningRateSchedule Schedule { get; set; } = LearningRateSchedule.Cosine;

    /// <summary>Fraction of the optimizer steps spent warming the learning rate up linearly from 0. Default 0.</summary>
    [CommandLineAlias("--warmup-ratio")]
    public double WarmupRatio { get; set; }

    /// <summary>Decoupled AdamW weight decay, applied to weights of two or more dimensions only. Default 0.</summary>
    [CommandLineAlias("--weight-decay")]
    public double WeightDecay { get; set; }

    /// <summary>Rows per forward pass in training. Default set by each trainer.</summary>
    [CommandLineAlias("--batch-size")]
    public int BatchSize { get; set; } = 32;

    /// <summary>Rows per forward pass when evaluating and scoring; 0 means 2 × <see cref="BatchSize"/>. Default 0.</summary>
    [CommandLineAlias("--inference-batch-size")]
    public int InferenceBatchSize { get; set; }

    /// <summary>Micro-batches whose gradients are summed before each optimizer step (effective batch = BatchSize × this). Default 1.</summary>
    [CommandLineAlias("--grad-accum")]
    public int GradientAccumulationSteps { get; set; } = 1;

    /// <summary>Clip the global gradient norm to this value; 0 turns clipping off. Default 1.0 (as Hugging Face).</summary>
    [CommandLineAlias("--max-grad-norm")]
    public double MaxGradientNorm { get; set; } = 1.0;

    /// <summary>Passes over the training data (fractions allowed, e.g. 0.5). Default set by each trainer.</summary>
    [CommandLineAlias("--epochs")]
    public double NumberOfEpochs { get; set; } = 1;

    /// <summary>
    /// Evaluate on <see cref="ValidationSet"/> every this fraction of an epoch, but never more often than every
    /// <see cref="MinimumEvaluationSteps"/> optimizer steps; the last step is always evaluated. Default 0.1.
    /// </summary>
    [CommandLineAlias("--eval-interval")]
    public double EvaluationInterval { get; set; } = 0.1;

    /// <summary>Evaluate every this many optimizer steps instead (no minimum applies); 0 uses <see cref="EvaluationInterval"/>. Default 0.</summary>
    [CommandLineAlias("--eval-steps")]
    public int EvaluationSteps { get; set; }

    /// <summary>
    /// The fewest optimizer steps between two evaluations set by <see cref="EvaluationInterval"/> (on small data a tenth of an epoch
    /// is a step or two, and evaluating at every step would cost most of the run). Default 10.
    /// </summary>
    [CommandLineAlias("--min-eval-steps")]
    public int MinimumEvaluationSteps { get; set; } = 10;

    /// <summary>
    /// How much an evaluation must beat the best so far (by <see cref="EarlyStoppingMetric"/>) to count as an improvement for
    /// early stopping. The best model is the best by the metric; ties go to the lower log-loss, then to the later evaluation. Default 1e-4.
    /// </summary>
    public double MinimumImprovement { get; set; } = 1e-4;

    /// <summary>Optional validation data (same columns, same label keys). Without it no evaluation or early stopping happens. Default null.</summary>
    public IDataView? ValidationSet { get; set; }

    /// <summary>Stop after this many evaluations without improvement; 0 never stops early. Default 0.</summary>
    [CommandLineAlias("--patience")]
    public int EarlyStoppingPatience { get; set; }

    /// <summary>The metric that picks the best evaluation. Default <see cref="Training.EarlyStoppingMetric.MacroF1"/>.</summary>
    public EarlyStoppingMetric EarlyStoppingMetric { get; set; } = EarlyStoppingMetric.MacroF1;

    /// <summary>At the end, restore the weights of the best evaluation (when a validation set is given). Default true.</summary>
    public bool RestoreBestModel { get; set; } = true;

    /// <summary>Loss weighting of classes for imbalanced labels. Default <see cref="MLNetLlmClassifier.ClassWeighting.None"/>.</summary>
    [CommandLineAlias("--class-weighting")]
    public ClassWeighting ClassWeighting { get; set; } = ClassWeighting.None;

    /// <summary>Label smoothing epsilon for noisy labels, in [0, 1). Default 0.</summary>
    [CommandLineAlias("--label-smoothing")]
    public double LabelSmoothing { get; set; }

    /// <summary>Random seed for initialisation, shuffling and dropout; null takes one from the MLContext's seed. Default null.</summary>
    [CommandLineAlias("--seed")]
    public int? Seed { get; set; }

    /// <summary>auto (CUDA if available, else CPU), cpu, cuda or cuda:N. Asking for CUDA without one is an error. Default "auto".</summary>
    [CommandLineAlias("--device")]
    public string Device { get; set; } = "auto";

    /// <summary>Numeric precision. Default <see cref="MLNetLlmClassifier.Precision.Auto"/> (bf16 on CUDA and, for hidden sizes of 256 or more,
    /// on CPUs with native bf16; fp32 otherwise).</summary>
    [CommandLineAlias("--precision")]
    public Precision Precision { get; set; } = Precision.Auto;

    /// <summary>
    /// LoRA rank r: 0 trains every weight (full fine-tuning); r ≥ 1 freezes the base model (in the dtype of <see cref="Precision"/>,
    /// without fp32 master copies or optimizer state) and trains float32 low-rank adapters W + (alpha/r)·B·A on the <see cref="LoraTargetModules"/>, plus the classification
    /// head in full. Saved models then also hold the adapter in the PEFT format (adapter_config.json, adapter_model.safetensors). Default 0.
    /// </summary>
    [CommandLineAlias("--lora-rank")]
    public int LoraRank { get; set; }

    /// <summary>LoRA alpha: the adapter's output is scaled by alpha / r (alpha / √r with <see cref="LoraUseRsLora"/>). Default 16.</summary>
    [CommandLineAlias("--lora-alpha")]
    public double LoraAlpha { get; set; } = 16;

    /// <summary>Dropout probability on the input of the LoRA path, in training only. Default 0 (as PEFT).</summary>
    [CommandLineAlias("--lora-dropout")]
    public double LoraDropout { get; set; }

    /// <summary>
    /// The Linear modules that get adapters: "all-linear" (every Linear but the LM head and the classification head, as PEFT's
    /// shorthand), or names separated by commas, each matching a module whose name ends with it, e.g. "q_proj,k_proj,v_proj,o_proj"
    /// or "gate_proj,up_proj,down_proj" (Qwen3), "query,key,value,dense" (BERT). Default "all-linear".
    /// </summary>
    [CommandLineAlias("--lora-targets")]
    public string LoraTargetModules { get; set; } = "all-linear";

    /// <summary>Which biases LoRA training also updates (and saves with the adapter), as PEFT's bias: None, All or LoraOnly. Default None.</summary>
    [CommandLineAlias("--lora-bias")]
    public Peft.LoraBias LoraBias { get; set; } = Peft.LoraBias.None;

    /// <summary>Rank-stabilised LoRA: scale the adapter by alpha / √r instead of alpha / r. Default false.</summary>
    public bool LoraUseRsLora { get; set; }

    /// <summary>
    /// A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors, e.g. written by Python peft or by
    /// <c>mlnet-llm export --adapter-only</c>) to put on <see cref="ModelPath"/> and keep training; its own config sets rank, alpha and
    /// targets (the Lora* options are not used). Default null.
    /// </summary>
    [CommandLineAlias("--adapter")]
    public string? AdapterPath { get; set; }

    /// <summary>Freeze the embeddings (no LoRA): token, position and type embeddings get no updates. With a tied LM head (Qwen3) that freezes the head too. Default false.</summary>
    [CommandLineAlias("--freeze-embeddings")]
    public bool FreezeEmbeddings { get; set; }

    /// <summary>Freeze the first N transformer layers (no updates to layers 0..N-1); with LoRA, those layers get no adapters. Default 0.</summary>
    [CommandLineAlias("--freeze-layers")]
    public int FreezeFirstLayers { get; set; }

    /// <summary>Receives a report after every optimizer step and evaluation (also written to MLContext.Log). Default null.</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }

    /// <summary>Cancels training between steps; Fit then throws OperationCanceledException and nothing is kept. Default none.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Checks every option; the exception names the option at fault.</summary>
    public virtual void Validate()
    {
        static void Check(bool ok, string name, object? value, string rule)
        {
            if (!ok) throw new ArgumentOutOfRangeException(name, value, $"Option {name} = {value ?? "null"} is invalid: {rule}.");
        }
        Check(!string.IsNullOrWhiteSpace(LabelColumnName), nameof(LabelColumnName), LabelColumnName, "give a column name");
        Check(!string.IsNullOrWhiteSpace(ScoreColumnName), nameof(ScoreColumnName), ScoreColumnName, "give a column name");
        Check(!string.IsNullOrWhiteSpace(PredictedLabelColumnName), nameof(PredictedLabelColumnName), PredictedLabelColumnName, "give a column name");
        Check(!string.IsNullOrWhiteSpace(ModelPath), nameof(ModelPath), ModelPath, "give a Hugging Face model folder");
        Check(Directory.Exists(ModelPath), nameof(ModelPath), ModelPath, "the folder does not exist");
        Check(MaxSequenceLength >= 8, nameof(MaxSequenceLength), MaxSequenceLength, "must be at least 8");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "must be a positive number");
        Check(WarmupRatio is >= 0 and < 1, nameof(WarmupRatio), WarmupRatio, "must be in [0, 1)");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), WeightDecay, "must be >= 0");
        Check(BatchSize >= 1, nameof(BatchSize), BatchSize, "must be at least 1");
        Check(InferenceBatchSize >= 0, nameof(InferenceBatchSize), InferenceBatchSize, "must be >= 0 (0 = 2 x BatchSize)");
        Check(GradientAccumulationSteps >= 1, nameof(GradientAccumulationSteps), GradientAccumulationSteps, "must be at least 1");
        Check(MaxGradientNorm >= 0 && double.IsFinite(MaxGradientNorm), nameof(MaxGradientNorm), MaxGradientNorm, "must be >= 0 (0 = no clipping)");
        Check(NumberOfEpochs > 0 && double.IsFinite(NumberOfEpochs), nameof(NumberOfEpochs), NumberOfEpochs, "must be positive");
        Check(EvaluationInterval > 0 && double.IsFinite(EvaluationInterval), nameof(EvaluationInterval), EvaluationInterval, "must be a positive fraction of an epoch");
        Check(EvaluationSteps >= 0, nameof(EvaluationSteps), EvaluationSteps, "must be >= 0");
        Check(MinimumEvaluationSteps >= 1, nameof(MinimumEvaluationSteps), MinimumEvaluationSteps, "must be at least 1");
        Check(MinimumImprovement >= 0 && double.IsFinite(MinimumImprovement), nameof(MinimumImprovement), MinimumImprovement, "must be >= 0");
        Check(EarlyStoppingPatience >= 0, nameof(EarlyStoppingPatience), EarlyStoppingPatience, "must be >= 0");
        Check(LabelSmoothing is >= 0 and < 1, nameof(LabelSmoothing), LabelSmoothing, "must be in [0, 1)");
        Check(Enum.IsDefined(Schedule), nameof(Schedule), Schedule, "unknown schedule");
        Check(Enum.IsDefined(Precision), nameof(Precision), Precision, "unknown precision");
        Check(Enum.IsDefined(ClassWeighting), nameof(ClassWeighting), ClassWeighting, "unknown weighting");
        Check(LoraRank >= 0, nameof(LoraRank), LoraRank, "must be >= 0 (0 = no LoRA)");
        Check(LoraAlpha > 0 && double.IsFinite(LoraAlpha), nameof(LoraAlpha), LoraAlpha, "must be a positive number");
        Check(LoraDropout is >= 0 and < 1, nameof(LoraDropout), LoraDropout, "must be in [0, 1)");
        Check(Peft.LoraConfig.ParseTargets(LoraTargetModules ?? "").Count > 0, nameof(LoraTargetModules), LoraTargetModules, "give all-linear or module names separated by commas");
        Check(Enum.IsDefined(LoraBias), nameof(LoraBias), LoraBias, "unknown bias rule");
        Check(FreezeFirstLayers >= 0, nameof(FreezeFirstLayers), FreezeFirstLayers, "must be >= 0");
        Check(string.IsNullOrEmpty(AdapterPath) || Peft.PeftAdapterFolder.Has(AdapterPath), nameof(AdapterPath), AdapterPath, $"the folder has no {Peft.PeftAdapterFolder.ConfigFileName}");
        Torch.TorchDevice.Validate(Device, nameof(Device));
    }

    /// <summary>The batch size of evaluation and scoring: <see cref="InferenceBatchSize"/>, or 2 × <see cref="BatchSize"/> when it is 0.</summary>
    public int EffectiveInferenceBatchSize => InferenceBatchSize > 0 ? InferenceBatchSize : 2 * BatchSize;

    /// <summary>
    /// Gradient checkpointing: keep only each transformer layer's input from the forward pass and recompute the layer's activations
    /// in backward. The gradients are the same; activation memory falls from every layer's intermediates to one hidden state per
    /// layer (plus one layer's intermediates), for about one more forward pass of compute per step. Layers with dropout are
    /// recomputed with the same random state on the CPU; on CUDA they are refused (BERT: set its dropout to 0). Default false.
    /// </summary>
    [CommandLineAlias("--gradient-checkpointing")]
    public bool GradientCheckpointing { get; set; }
}
