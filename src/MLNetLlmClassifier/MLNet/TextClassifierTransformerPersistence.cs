using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.Torch;

namespace MLNetLlmClassifier.MLNet;

/// <summary>
/// Saving <see cref="TextClassifierTransformer"/> inside ML.NET model files. The transformer's
/// directory in the zip holds a small header (columns, class names, batch size, file list) and one
/// binary stream per file of the classifier's Hugging Face folder (config.json, model.safetensors,
/// tokenizer files, mlnet-classifier.json), so the same folder that <c>ExportHuggingFaceFolder</c>
/// writes travels inside the model.
/// </summary>
internal static class TextClassifierTransformerPersistence
{
    /// <summary>Version 1.1: first format.</summary>
    private const uint Version = 0x00010001;

    public static readonly MlNetModelFormat Format = new(
        LoaderSignature: "MLNETLLM-TEXTCLASSIFIER",
        ModelSignature: "MLNLTXTC",
        VerWritten: Version,
        VerReadable: Version,
        VerWeCanReadBack: Version,
        Load: Load);

    public static void Save(ModelSaveContext ctx, TextClassifierTransformer t)
    {
        var tmp = Path.Combine(Path.GetTempPath(), $"mlnetllm-save-{Guid.NewGuid():N}");
        try
        {
            t.Model.SaveModelFolder(tmp);
            var files = Directory.GetFiles(tmp).Select(f => Path.GetFileName(f)!).OrderBy(f => f, StringComparer.Ordinal).ToArray();
            MlNetInternals.SaveModel(ctx, Format,
                w =>
                {
                    var c = t.Columns;
                    w.Write(c.TextColumn);
                    w.Write(c.Text2Column is not null);
                    if (c.Text2Column is not null) w.Write(c.Text2Column);
                    w.Write(c.ScoreColumn);
                    w.Write(c.PredictedLabelColumn);
                    w.Write(t.ClassNames.Count);
                    foreach (var n in t.ClassNames) w.Write(n);
                    w.Write(t.BatchSize);
                    w.Write(files.Length);
                    foreach (var f in files) w.Write(f);
                },
                files.Select(f => (f, (Action<Stream>)(s =>
                {
                    using var fs = File.OpenRead(Path.Combine(tmp, f));
                    fs.CopyTo(s);
                }))));
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }

    private static ITransformer Load(IHostEnvironment env, MlNetModelReader r)
    {
        var h = r.Header;
        string text = h.ReadString();
        string? text2 = h.ReadBoolean() ? h.ReadString() : null;
        var cols = new ClassifierColumns(text, text2, h.ReadString(), h.ReadString());
        var classNames = new string[h.ReadInt32()];
        for (int i = 0; i < classNames.Length; i++) classNames[i] = h.ReadString();
        int batchSize = h.ReadInt32();
        var files = new string[h.ReadInt32()];
        for (int i = 0; i < files.Length; i++) files[i] = h.ReadString();

        var tmp = Path.Combine(Path.GetTempPath(), $"mlnetllm-load-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            foreach (var f in files)
            {
                if (Path.GetFileName(f) != f || f is "." or "..")
                    throw new InvalidDataException($"Model directory '{r.Directory}' names an invalid file '{f}'.");
                r.ReadStream(f, s =>
                {
                    using var fs = File.Create(Path.Combine(tmp, f));
                    s.CopyTo(fs);
                });
            }
            var model = Families.ClassifierFamilies.LoadClassifier(tmp, MLNetLlmClassifierRegistration.LoadDevice(env));
            if (model.NumClasses != classNames.Length)
            {
                model.Dispose();
                throw new InvalidDataException($"Model directory '{r.Directory}': the classifier has {model.NumClasses} classes but the header lists {classNames.Length}.");
            }
            return new TextClassifierTransformer(env, model, cols, classNames, batchSize, summary: null);
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
    }
}
