using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Text;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Qwen3;

/// <summary>A temporary Hugging Face folder with a tiny random Qwen3 (<see cref="Qwen3Config.Tiny"/>) and the real Qwen3 tokenizer.</summary>
internal sealed class TinyQwen3Folder : IDisposable
{
    public TinyQwen3Folder(int seed = 1, ScalarType dtype = ScalarType.Float32)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlnetllm-tinyqwen3-" + Guid.NewGuid().ToString("N"));
        Qwen3ForCausalLM.CreateRandomCheckpoint(Qwen3Config.Tiny(), Path, seed, dtype);
        TokenizerFolder.CopyTokenizerFiles(TokenizerPath, Path);
    }

    /// <summary>The real Qwen3 tokenizer in ../shared.</summary>
    public static string TokenizerPath => TestPaths.Shared("models", "qwen3-tokenizer");

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
