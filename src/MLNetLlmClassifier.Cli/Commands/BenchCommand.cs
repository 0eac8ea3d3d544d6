using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using MLNetLlmClassifier.Data;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm bench</c>: training and inference rows/s and peak memory of a trainer on real AG News
/// texts (the embedded sample), so lengths match the reference experiment's.
/// </summary>
internal static class BenchCommand
{
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static BenchCommand() => CliFamilies.EnsureRegistered();

    /// <summary>Bench figures. FLOP/s estimates: forward ≈ 2 × matmul parameters × tokens, training ≈ 3 × forward.</summary>
    public sealed record Result(string Trainer, string Model, string Device, string Precision, long Parameters, long MatmulParameters,
        int BatchSize, int MaxLength, int TrainRows, double TrainRowsPerSecond, int InferenceRows, double InferenceRowsPerSecond,
        double MeanTokens, double PeakWorkingSetMiB, double DeviceMatmulFlopsFp32, double DeviceMatmulFlopsBf16,
        double TrainAchievedFlops, double InferenceAchievedFlops, double TrainFractionOfPeak, double InferenceFractionOfPeak)
    {
        /// <summary>Peak resident memory of the train phase (Fit: loading, tokenising, training), MiB; the process's peak so far where it cannot be reset (not Linux).</summary>
        public double TrainPeakMiB { get; init; }

        /// <summary>Resident memory when the train phase started, MiB.</summary>
        public double TrainStartMiB { get; init; }

        /// <summary>Whether <see cref="TrainPeakMiB"/> is the train phase's own peak (Linux) rather than the process's.</summary>
        public bool TrainPeakIsPhasePeak { get; init; }

        /// <summary>The family's estimate of a training step's peak tensor memory at this batch and length (with --fixed-length), MiB; null when none.</summary>
        public double? EstimatedTrainPeakMiB { get; init; }

        /// <summary>The family's estimate of the train phase's resident tensor memory on the CPU (freed activations kept), MiB; null when none.</summary>
        public double? EstimatedCpuResidentMiB { get; init; }

        /// <summary>Whether gradient checkpointing was on.</summary>
        public bool GradientCheckpointing { get; init; }
    }

    private static readonly JsonSerializerOptions JsonOut = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    public static Command Create()
    {
        var trainer = new Option<string>("--trainer") { Description = $"A family trained from a checkpoint: {string.Join(", ", ClassifierFamilies.All.Where(f => f.UsesCheckpoint).Select(f => f.Name))} (aliases such as qwen3 work too). Default bert.", DefaultValueFactory = _ => "bert" };
        var model = new Option<string>("--model") { Description = "Hugging Face model folder.", Required = true };
        var batch = new Option<int>("--batch-size") { Description = "Rows per batch. Default 32.", DefaultValueFactory = _ => 32 };
        var trainRows = new Option<int>("--train-rows") { Description = "Rows to train on (one epoch). Default 128.", DefaultValueFactory = _ => 128 };
        var inferRows = new Option<int>("--rows") { Description = "Rows to score. Default 512.", DefaultValueFactory = _ => 512 };
        var maxLength = new Option<int>("--max-length") { Description = "Maximum tokens per row. Default 512.", DefaultValueFactory = _ => 512 };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N.", DefaultValueFactory = _ => "auto" };
        var precision = new Option<string>("--precision") { Description = "auto, float32, bfloat16.", DefaultValueFactory = _ => "auto" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var fixedLength = new Option<int>("--fixed-length") { Description = "Every row exactly this many tokens (long AG News texts cut to fit; also sets --max-length), for like-for-like comparisons at a fixed batch × length. Default 0: the texts' own lengths." };
        var profile = new Option<bool>("--profile") { Description = "Print where the time of a training step and of a scoring batch goes, phase by phase (exclusive wall time; the first step is warm-up and not counted)." };
        var optionSettings = new OptionSettingsCli();
        var cmd = new Command("bench", "Measure training and inference throughput and peak memory on AG News texts.");
        foreach (var o in new Option[] { trainer, model, batch, trainRows, inferRows, maxLength, device, precision, json, fixedLength, profile }) cmd.Options.Add(o);
        optionSettings.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var result = Run(r.GetValue(trainer)!, r.GetValue(model)!, r.GetValue(batch), r.GetValue(trainRows), r.GetValue(inferRows),
                r.GetValue(maxLength), r.GetValue(device)!, Enum.Parse<Precision>(r.GetValue(precision)!, ignoreCase: true), r.GetValue(json) ? null : Console.Out, optionSettings.Read(r),
                r.GetValue(fixedLength), r.GetValue(profile));
            Console.WriteLine(r.GetValue(json)
                ? JsonSerializer.Serialize(result, JsonOut)
                : $"train {result.TrainRowsPerSecond:F2} rows/s ({result.TrainFractionOfPeak:P1} of the device's matmul rate), " +
                  $"inference {result.InferenceRowsPerSecond:F2} rows/s ({result.InferenceFractionOfPeak:P1}), mean {result.MeanTokens:F1} tokens/row, " +
                  $"peak working set {result.PeakWorkingSetMiB:F0} MiB, {result.Parameters:N0} parameters on {result.Device} ({result.Precision}); " +
                  $"device matmul {result.DeviceMatmulFlopsFp32 / 1e9:F1} GFLOP/s fp32, {result.DeviceMatmulFlopsBf16 / 1e9:F1} GFLOP/s bf16\n" +
                  $"peak memory (train{(result.GradientCheckpointing ? ", gradient checkpointing" : "")}): {result.TrainPeakMiB:F0} MiB resident" +
                  (result.TrainPeakIsPhasePeak ? $", {result.TrainPeakMiB - result.TrainStartMiB:F0} MiB above the {result.TrainStartMiB:F0} MiB before training" : " (the process's peak: this platform cannot reset it)") +
                  (result.EstimatedTrainPeakMiB is { } est ? $"; estimated peak of a training step's tensors {est:F0} MiB, resident on the CPU {result.EstimatedCpuResidentMiB:F0} MiB (estimate-memory)" : ""));
            return 0;
        }));
        return cmd;
    }

    public static Result Run(string trainer, string modelPath, int batchSize, int trainRows, int inferenceRows, int maxLength,
        string device, Precision precision, TextWriter? log, System.Text.Json.Nodes.JsonObject? config = null, int fixedLength = 0, bool profile = false)
    {
        if (fixedLength < 0) throw new ArgumentOutOfRangeException(nameof(fixedLength), fixedLength, "--fixed-length must be >= 0.");
        var sample = EmbeddedData.LoadAgNewsSample(renameLabels: true);
        if (fixedLength > 0)
        {
            // Rows longer than any limit (several AG News texts joined), cut to exactly fixedLength tokens by the tokenizer's truncation.
            var original = sample;
            sample = new TextClassificationTable(original.Select((row, i) =>
                row with { Text = string.Join(" ", Enumerable.Range(0, 12).Select(k => original[(i + 97 * k) % original.Count].Text)) }), original.Source);
            maxLength = fixedLength;
        }
        var train = StratifiedSplit.SampleTotal(sample, Math.Min(trainRows, sample.Count), seed: 1);
        var texts = Enumerable.Range(0, inferenceRows).Select(i => sample[i % sample.Count].Text).ToArray();
        var family = ClassifierFamilies.Get(trainer, "--trainer");
        var options = ClassifierPipeline.NewOptions(family, modelPath, pairs: false) as TransformerTrainerOptions
                      ?? throw new ArgumentException($"bench measures families trained from a checkpoint; {family.Name} is not one.");
        options.BatchSize = batchSize;
        options.InferenceBatchSize = batchSize;
        options.NumberOfEpochs = 1;
        options.MaxSequenceLength = maxLength;
        options.Device = device;
        options.Precision = precision;
        options.Seed = 1;
        options.LearningRate = 1e-5;
        ModelOptionsConfig.Apply(config, family, options, "--config/--set");
        // Steady-state training rate: rows of steps 2..N over the time from the end of step 1 to the end of step N (step 1 pays
        // for first-call allocations and kernel selection; with a single step, that step's rate).
        var stepTimes = new List<(long Step, double Seconds)>();
        var clock = Stopwatch.StartNew();
        var console = log is null ? null : CliCommon.ConsoleProgress("train: ", everySteps: 1);
        options.Progress = new CliCommon.InlineProgress<Training.TrainingProgress>(p =>
        {
            if (p.Kind == Training.TrainingEventKind.Step) stepTimes.Add((p.Step, clock.Elapsed.TotalSeconds));
            console?.Report(p);
        });
        var ml = new MLContext(seed: 1);
        var dev = Torch.TorchDevice.Resolve(device);
        ITransformer fitted;
        var trainProfiler = profile ? Torch.StepProfiler.Start(dev, skipSteps: 1) : null;
        GC.Collect();
        bool phasePeak = Torch.ProcessMemory.ResetPeak();
        double startMiB = Torch.ProcessMemory.ResidentBytes() / (1024.0 * 1024);
        using (trainProfiler)
            (_, fitted) = ClassifierPipeline.Fit(ml, family, options, train, null);
        double trainPeakMiB = Torch.ProcessMemory.PeakResidentBytes() / (1024.0 * 1024);
        var classifier = (TextClassifierTransformer)fitted;
        using (classifier)
        {
            classifier.Predict(texts.Take(batchSize).ToArray()); // warm-up: first-call allocations and kernel selection
            var inferProfiler = profile ? Torch.StepProfiler.Start(dev, skipSteps: 0) : null;
            var sw = Stopwatch.StartNew();
            using (inferProfiler)
                classifier.Predict(texts);
            double inferSeconds = sw.Elapsed.TotalSeconds;
            if (trainProfiler is not null && inferProfiler is not null && log is not null)
            {
                log.WriteLine($"Training step, batch {batchSize} ({classifier.Precision} on {classifier.Device}):");
                log.WriteLine(trainProfiler.Format("step"));
                log.WriteLine($"Scoring batch, batch {batchSize}:");
                log.WriteLine(inferProfiler.Format("batch"));
            }
            double meanTokens = texts.Average(t => classifier.CountTokens(t));
            log?.WriteLine("measuring the device's matrix-multiply rate (fp32, bf16)...");
            double fp32 = Torch.DeviceThroughput.MatmulFlops(dev, TorchSharp.torch.ScalarType.Float32);
            double bf16 = Torch.DeviceThroughput.MatmulFlops(dev, TorchSharp.torch.ScalarType.BFloat16);
            long matmulParams = classifier.MatmulParameterCount;
            double forwardPerRow = 2.0 * matmulParams * meanTokens;
            int firstStepRows = Math.Min(train.Count, batchSize * Math.Max(1, options.GradientAccumulationSteps));
            double trainRps = stepTimes.Count >= 2
                ? (train.Count - firstStepRows) / (stepTimes[^1].Seconds - stepTimes[0].Seconds)
                : classifier.TrainingSummary!.RowsPerSecond;
            double inferRps = texts.Length / inferSeconds;
            double peak = classifier.Precision == "BFloat16" ? bf16 : fp32;
            // The rows' lengths vary unless --fixed-length makes every row that long: only then is T known.
            var estimate = fixedLength > 0
                ? family.EstimateTrainingMemory(options, batchSize, fixedLength, classifier.Precision == "BFloat16", dev.type == TorchSharp.DeviceType.CPU)
                : null;
            return new Result(family.Name, modelPath, classifier.Device, classifier.Precision, classifier.ParameterCount, matmulParams, batchSize, maxLength,
                train.Count, trainRps, texts.Length, inferRps, meanTokens,
                Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024), fp32, bf16,
                3 * forwardPerRow * trainRps, forwardPerRow * inferRps, 3 * forwardPerRow * trainRps / peak, forwardPerRow * inferRps / peak)
            {
                TrainPeakMiB = trainPeakMiB,
                TrainStartMiB = startMiB,
                TrainPeakIsPhasePeak = phasePeak,
                GradientCheckpointing = options.GradientCheckpointing,
                EstimatedTrainPeakMiB = estimate?.Peak / (1024.0 * 1024),
                EstimatedCpuResidentMiB = estimate?.CpuResidentPeak / (1024.0 * 1024),
            };
        }
    }
}
