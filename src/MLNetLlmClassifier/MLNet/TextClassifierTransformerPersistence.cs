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
        var tmp = NewTempFolder(SaveFolderPrefix);
        using var tracked = IO.TempArtifacts.Track(tmp);
        try
        {
            Families.ClassifierFamilies.SaveClassifier(t.Model, tmp);
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

    /// <summary>Prefix of the temporary folder a save writes the Hugging Face folder to (in the system temp folder).</summary>
    internal const string SaveFolderPrefix = "mlnetllm-save-";

    /// <summary>Prefix of the temporary folder a load extracts the model's streams to.</summary>
    internal const string LoadFolderPrefix = "mlnetllm-load-";

    /// <summary>
    /// A fresh temporary folder path named after this process; folders a killed process left behind (its id dead, a
    /// minute old) are removed first (<see cref="IO.TempArtifacts"/>).
    /// </summary>
    private static string NewTempFolder(string prefix)
    {
        string temp = Path.GetTempPath();
        IO.TempArtifacts.RemoveStale(temp, prefix);
        return Path.Combine(temp, IO.TempArtifacts.NewName(prefix));
    }

    /// <summary>Most classes a saved header may list (a corrupt count must not size an allocation).</summary>
    internal const int MaxClasses = 1_000_000;

    /// <summary>Largest scoring batch a saved header may hold.</summary>
    internal const int MaxBatchSize = 65_536;

    /// <summary>Most files of the Hugging Face folder a saved header may list.</summary>
    internal const int MaxFiles = 256;

    /// <summary>The values of the header, each checked against its bounds.</summary>
    private sealed record Header(ClassifierColumns Columns, string[] ClassNames, int BatchSize, string[] Files);

    /// <summary>
    /// Reads and validates the header: every count is bounded before it sizes anything, class names are non-empty and
    /// distinct, the batch size is usable, file names are plain, distinct and stored in the model, and nothing is left over.
    /// Errors are one line naming the model directory and the field.
    /// </summary>
    private static Header ReadHeader(MlNetModelReader r)
    {
        var h = r.Header;
        InvalidDataException Bad(string field, string problem) => new($"Model directory '{r.Directory}' is corrupt: header field {field} {problem}.");
        try
        {
            string Column(string field)
            {
                string name = h.ReadString();
                return name.Length is > 0 and <= 1024 ? name : throw Bad(field, $"has {name.Length} characters (expected 1 to 1024)");
            }
            string text = Column("textColumn");
            string? text2 = h.ReadBoolean() ? Column("text2Column") : null;
            var cols = new ClassifierColumns(text, text2, Column("scoreColumn"), Column("predictedLabelColumn"));

            int classCount = h.ReadInt32();
            if (classCount is < 1 or > MaxClasses)
                throw Bad("classCount", $"= {classCount} is out of range [1, {MaxClasses}]");
            var classNames = new string[classCount];
            var seenClasses = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < classNames.Length; i++)
            {
                string name = h.ReadString();
                if (name.Length == 0)
                    throw Bad($"classNames[{i}]", "is empty");
                if (!seenClasses.Add(name))
                    throw Bad($"classNames[{i}]", $"'{Printable(name)}' appears twice");
                classNames[i] = name;
            }

            int batchSize = h.ReadInt32();
            if (batchSize is < 1 or > MaxBatchSize)
                throw Bad("batchSize", $"= {batchSize} is out of range [1, {MaxBatchSize}]");

            int fileCount = h.ReadInt32();
            if (fileCount is < 1 or > MaxFiles)
                throw Bad("fileCount", $"= {fileCount} is out of range [1, {MaxFiles}]");
            var files = new string[fileCount];
            var seenFiles = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < files.Length; i++)
            {
                string f = h.ReadString();
                if (f.Length is 0 or > 255 || f is "." or ".." || !f.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
                    throw Bad($"files[{i}]", $"'{Printable(f)}' is not a plain file name (ASCII letters, digits, '.', '_', '-')");
                if (!seenFiles.Add(f))
                    throw Bad($"files[{i}]", $"'{f}' appears twice");
                if (!r.StreamNames.Contains(f, StringComparer.OrdinalIgnoreCase))
                    throw Bad($"files[{i}]", $"'{f}' names no stream of the model (streams: {string.Join(", ", r.StreamNames)})");
                files[i] = f;
            }
            if (h.BaseStream.Position != h.BaseStream.Length)
                throw Bad("(end)", $"is followed by {h.BaseStream.Length - h.BaseStream.Position} unexpected bytes");
            return new Header(cols, classNames, batchSize, files);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"Model directory '{r.Directory}' is corrupt: its header ends early ({h.BaseStream.Length} bytes).");
        }
    }

    /// <summary>A value for a one-line message: control characters escaped, at most 80 characters.</summary>
    private static string Printable(string s)
    {
        var text = string.Concat(s.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
        return text.Length <= 80 ? text : text[..80] + "...";
    }

    private static ITransformer Load(IHostEnvironment env, MlNetModelReader r)
    {
        var (cols, classNames, batchSize, files) = ReadHeader(r);

        var tmp = NewTempFolder(LoadFolderPrefix);
        using var tracked = IO.TempArtifacts.Track(tmp);
        Directory.CreateDirectory(tmp);
        bool handedOver = false;
        try
        {
            foreach (var f in files)
            {
                // Sizes were checked on the declared lengths before anything was extracted (ModelZipLimits); the copy
                // stops at the declared length too.
                long declared = r.DeclaredLengths.TryGetValue(f, out long d) ? d : ModelZipLimits.MaxTotalBytes;
                r.ReadStream(f, s =>
                {
                    using var fs = File.Create(Path.Combine(tmp, f));
                    ModelZipLimits.CopyBounded(s, fs, declared, $"Model directory '{r.Directory}': stream '{f}'");
                });
            }
            var model = Families.ClassifierFamilies.LoadClassifier(tmp, MLNetLlmClassifierRegistration.LoadDevice(env),
                source: $"Model directory '{r.Directory}' (model.safetensors)");
            if (model.NumClasses != classNames.Length)
            {
                model.Dispose();
                throw new InvalidDataException($"Model directory '{r.Directory}': the classifier has {model.NumClasses} classes but the header lists {classNames.Length}.");
            }
            // The classifier reads its tokenizer files from the folder again when it is saved or exported: the folder stays, without
            // the weights (already in memory), until the transformer is disposed.
            File.Delete(Path.Combine(tmp, Checkpoints.HfModelFolder.WeightsFileName));
            var transformer = new TextClassifierTransformer(env, model, cols, classNames, batchSize, summary: null, ownedFolder: tmp);
            handedOver = true;
            return transformer;
        }
        finally
        {
            if (!handedOver) Directory.Delete(tmp, recursive: true);
        }
    }
}
