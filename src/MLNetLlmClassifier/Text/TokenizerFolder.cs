using System.Text.Json;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Qwen3;

namespace MLNetLlmClassifier.Text;

/// <summary>Opening a Hugging Face tokenizer folder of either family, and copying one into a checkpoint.</summary>
public static class TokenizerFolder
{
    /// <summary>The files that make up a Hugging Face tokenizer folder, copied by <see cref="CopyTokenizerFiles"/>.</summary>
    public static IReadOnlyList<string> TokenizerFileNames { get; } =
        ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "vocab.json", "merges.txt"];

    /// <summary>
    /// Opens the tokenizer in <paramref name="folder"/>, detecting the family:
    /// a tokenizer.json with a BPE model → <see cref="Qwen3Tokenizer"/>;
    /// a vocab.txt, or a tokenizer.json with a WordPiece model → <see cref="BertWordPieceTokenizer"/>.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">No tokenizer file is there.</exception>
    /// <exception cref="InvalidDataException">tokenizer.json holds another kind of model, or a file is malformed.</exception>
    public static ITextTokenizer Open(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Tokenizer folder '{folder}' does not exist.");

        string jsonPath = Path.Combine(folder, HfTokenizerFiles.TokenizerJson);
        string? modelType = null;
        if (File.Exists(jsonPath))
        {
            using JsonDocument json = HfTokenizerFiles.TryReadJson(jsonPath)!;
            modelType = HfTokenizerFiles.Model(json.RootElement, jsonPath).Type;
        }

        if (modelType == "BPE") return Qwen3Tokenizer.FromFolder(folder);
        if (modelType == "WordPiece" || File.Exists(Path.Combine(folder, HfTokenizerFiles.VocabTxt)))
            return BertWordPieceTokenizer.FromFolder(folder);
        if (modelType is not null)
            throw new InvalidDataException(
                $"'{jsonPath}' holds a {modelType} model; only BPE (Qwen3) and WordPiece (BERT) tokenizers are supported.");
        throw new FileNotFoundException(
            $"No tokenizer in '{folder}': looked for tokenizer.json (BPE model → Qwen3, WordPiece model → BERT) and vocab.txt (BERT).");
    }

    /// <summary>
    /// Copies whichever of <see cref="TokenizerFileNames"/> exist in <paramref name="fromFolder"/> into
    /// <paramref name="toFolder"/> (created if needed), each file written atomically; files already there are replaced.
    /// </summary>
    /// <returns>The names of the files copied.</returns>
    /// <exception cref="DirectoryNotFoundException"><paramref name="fromFolder"/> does not exist.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="fromFolder"/> holds none of the tokenizer files.</exception>
    public static IReadOnlyList<string> CopyTokenizerFiles(string fromFolder, string toFolder)
    {
        ArgumentException.ThrowIfNullOrEmpty(fromFolder);
        ArgumentException.ThrowIfNullOrEmpty(toFolder);
        if (!Directory.Exists(fromFolder))
            throw new DirectoryNotFoundException($"Tokenizer folder '{fromFolder}' does not exist.");
        var present = TokenizerFileNames.Where(n => File.Exists(Path.Combine(fromFolder, n))).ToList();
        if (present.Count == 0)
            throw new FileNotFoundException(
                $"No tokenizer files in '{fromFolder}': looked for {string.Join(", ", TokenizerFileNames)}.");
        if (Path.GetFullPath(fromFolder).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(toFolder).TrimEnd(Path.DirectorySeparatorChar))
            return present;

        Directory.CreateDirectory(toFolder);
        foreach (string name in present)
        {
            string target = Path.Combine(toFolder, name);
            string tmp = IO.TempArtifacts.Sibling(target);
            using var tracked = IO.TempArtifacts.Track(tmp);
            try
            {
                File.Copy(Path.Combine(fromFolder, name), tmp);
                File.Move(tmp, target, overwrite: true);
            }
            catch
            {
                File.Delete(tmp);
                throw;
            }
        }
        return present;
    }
}
