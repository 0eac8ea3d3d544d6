using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Peft;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm export</c>: writes the classifier of a model.zip as a standard Hugging Face folder
/// (<see cref="TextClassifierTransformer.ExportHuggingFaceFolder"/>: config.json with id2label/label2id for BERT, model.safetensors,
/// tokenizer files, mlnet-classifier.json), then verifies it: the folder is loaded back by our own loader and its class probabilities
/// must equal the model's on texts of the embedded AG News sample. <c>--form sequence-classification</c> writes the prompted decoder as a
/// Qwen3ForSequenceClassification, which is also checked as transformers reads it (the family's
/// <see cref="ClassifierFamily.VerifyAsTransformersReadsIt"/>: prompt string tokenized, right padding, last non-pad token).
/// </summary>
internal static class ExportCommand
{
    /// <summary>Largest difference of a class probability between the model and its export that the verification accepts.</summary>
    internal const double Tolerance = 1e-5;

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Trained ML.NET model (.zip) of a checkpoint family (bert, qwen3-prompted, qwen3-seqcls).", Required = true };
        var output = new Option<string>("--out") { Description = "Folder to write (must not exist or be empty unless --overwrite).", Required = true };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing, non-empty folder." };
        var rows = new Option<int>("--verify-rows") { Description = "Texts on which the reloaded export is compared with the model. Default 16.", DefaultValueFactory = _ => 16 };
        var merge = new Option<bool>("--merge") { Description = "LoRA models: merge the adapter into the base weights (W += alpha/r * B A) and write a plain Hugging Face folder without adapter files." };
        var adapterOnly = new Option<bool>("--adapter-only") { Description = "LoRA models: write only the adapter in PEFT's layout (adapter_config.json, adapter_model.safetensors), for Python peft or --adapter." };
        var form = new Option<string>("--form")
        {
            Description = "native (default): the family's own architecture (the prompted decoder: its causal LM, prompt in mlnet-classifier.json); " +
                          "sequence-classification: a *ForSequenceClassification for classification pipelines and vLLM's classify task (the prompted " +
                          "decoder: Qwen3ForSequenceClassification whose score rows are the LM-head rows of the option tokens; one-token markers only; LoRA needs --merge).",
            DefaultValueFactory = _ => FormName(ExportForm.Native),
        };
        form.AcceptOnlyFromAmong(Enum.GetValues<ExportForm>().Select(FormName).ToArray());
        var cmd = new Command("export", "Write a model's classifier as a Hugging Face folder (config.json with id2label/label2id, model.safetensors, tokenizer; a LoRA model adds its PEFT adapter files) and verify it loads back with the same scores.");
        foreach (var o in new Option[] { model, output, overwrite, rows, merge, adapterOnly, form }) cmd.Options.Add(o);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            string folder = r.GetValue(output)!;
            CliCommon.CheckOutputFolder(folder, "--out");
            int n = r.GetValue(rows);
            if (n is < 1 or > 2000) throw new ArgumentException($"--verify-rows = {n} must be 1 to 2000.");
            var ml = new MLContext(seed: 1);
            var loaded = ModelFile.Load(ml, r.GetValue(model)!);
            using var _ = loaded as IDisposable;
            var classifier = (loaded as IEnumerable<ITransformer>)?.OfType<TextClassifierTransformer>().FirstOrDefault()
                ?? throw new ArgumentException($"{r.GetValue(model)} holds no classifier of a checkpoint family ({string.Join(", ", ClassifierFamilies.All.Where(f => f.UsesCheckpoint).Select(f => f.Name))}): only those export to a Hugging Face folder.");
            if (r.GetValue(merge) && r.GetValue(adapterOnly)) throw new ArgumentException("--merge and --adapter-only exclude each other.");
            var exportForm = Enum.GetValues<ExportForm>().Single(f => FormName(f) == r.GetValue(form));
            if (r.GetValue(adapterOnly) && exportForm != ExportForm.Native) throw new ArgumentException("--adapter-only and --form sequence-classification exclude each other.");
            if (r.GetValue(adapterOnly))
            {
                classifier.ExportPeftAdapter(folder, r.GetValue(overwrite));
                var adapter = PeftAdapterFolder.ReadConfig(folder);
                Console.WriteLine($"Exported the LoRA adapter of the {classifier.Family.Name} classifier to {folder}: " +
                                  string.Join(", ", Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)) +
                                  string.Create(CultureInfo.InvariantCulture, $" (PEFT LoRA, r {adapter.Rank}, lora_alpha {adapter.Alpha}, task_type {adapter.TaskType})."));
                return 0;
            }
            // The reference scores are taken before the export, since --merge changes the loaded model in place.
            var expected = Expected(classifier, n);
            if (r.GetValue(merge)) classifier.ExportMergedHuggingFaceFolder(folder, r.GetValue(overwrite), exportForm);
            else classifier.ExportHuggingFaceFolder(folder, r.GetValue(overwrite), exportForm);
            double diff = Verify(ml, classifier, folder, expected);
            // Where transformers reads the folder otherwise than our loader does (a decoder's last-token pooling), the family checks that too.
            string? asTransformers = expected.Texts2 is null
                ? ClassifierFamilies.ForModelFolder(folder).VerifyAsTransformersReadsIt(folder, expected.Texts, expected.Scores, Tolerance, classifier.Model.Device)
                : null;
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
            Console.WriteLine($"Exported the {classifier.Family.Name} classifier ({classifier.ClassNames.Count} classes) to {folder}: " +
                              string.Join(", ", Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)) + ".");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Verified: reloaded from the folder, the class probabilities of {n} texts differ from the model's by at most {diff:E2} (tolerance {Tolerance:E0})."));
            if (asTransformers is not null) Console.WriteLine(asTransformers);
            if (config["id2label"] is JsonObject id2label)
                Console.WriteLine($"config.json: architectures {config["architectures"]?.ToJsonString()}, id2label {id2label.ToJsonString()}, label2id {config["label2id"]?.ToJsonString()}.");
            return 0;
        }));
        return cmd;
    }

    /// <summary>The <c>--form</c> value of an <see cref="ExportForm"/>: its name in kebab case (native, sequence-classification).</summary>
    internal static string FormName(ExportForm form) =>
        string.Concat(form.ToString().Select((ch, i) => char.IsUpper(ch) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(ch) : ch.ToString()));

    /// <summary>The verification texts (and second texts) and the model's class probabilities for them.</summary>
    internal static (List<string> Texts, List<string?>? Texts2, float[][] Scores) Expected(TextClassifierTransformer classifier, int rows)
    {
        var texts = EmbeddedData.LoadAgNewsSample().Take(rows).Select(row => row.Text).ToList();
        var texts2 = classifier.Columns.Text2Column is null ? null : texts.Select(t => (string?)new string(t.Reverse().ToArray())).ToList();
        return (texts, texts2, classifier.Predict(texts, texts2));
    }

    /// <summary>Loads the exported folder with our loader and returns the largest difference of a class probability from the model's.</summary>
    /// <exception cref="InvalidDataException">The difference exceeds <see cref="Tolerance"/> (the folder stays, for inspection).</exception>
    internal static double Verify(MLContext ml, TextClassifierTransformer classifier, string folder, (List<string> Texts, List<string?>? Texts2, float[][] Scores) reference)
    {
        var (texts, texts2, expected) = reference;
        var model = ClassifierFamilies.LoadClassifier(folder, classifier.Model.Device);
        using var reloaded = new TextClassifierTransformer(ml, model, classifier.Columns, classifier.ClassNames, classifier.BatchSize, summary: null);
        var actual = reloaded.Predict(texts, texts2);
        double worst = 0;
        for (int i = 0; i < texts.Count; i++)
            for (int c = 0; c < expected[i].Length; c++)
                worst = Math.Max(worst, Math.Abs(expected[i][c] - actual[i][c]));
        if (!(worst <= Tolerance))
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The export in {folder} does not reproduce the model: reloaded, a class probability differs by {worst:E2} (tolerance {Tolerance:E0})."));
        return worst;
    }
}
