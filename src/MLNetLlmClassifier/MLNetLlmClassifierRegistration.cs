using Microsoft.ML;
using Microsoft.ML.Runtime;

using MLNetLlmClassifier.MLNet;

namespace MLNetLlmClassifier;

/// <summary>
/// Makes ML.NET able to load models that contain MLNetLlmClassifier transformers.
/// </summary>
/// <remarks>
/// ML.NET finds a transformer's loader in the <see cref="ComponentCatalog"/> of the <see cref="MLContext"/>
/// that loads the model, and offers third-party libraries no way to be registered there automatically.
/// So, in a process that did not build the model, call this once per <see cref="MLContext"/> before
/// <c>mlContext.Model.Load</c>:
/// <code>
/// var mlContext = new MLContext();
/// mlContext.ComponentCatalog.RegisterMLNetLlmClassifier();
/// ITransformer model = mlContext.Model.Load("model.zip", out var inputSchema);
/// </code>
/// Without it, ML.NET fails with "Couldn't load model: 'TransformerChain/Transform_00N'" (the directory of
/// our transformer, often wrapped in "Error during class instantiation"). The call is cheap and idempotent; this library's
/// estimator extension methods make it for you, so training and loading in the same MLContext needs nothing.
/// </remarks>
public static class MLNetLlmClassifierRegistration
{
    /// <summary>
    /// Every transformer this library can load. Add one line per saveable transformer:
    /// <c>BertTextClassificationTransformer.ModelFormat,</c>.
    /// </summary>
    private static readonly MlNetModelFormat[] BuiltInFormats =
    [
        TextClassifierTransformerPersistence.Format,
    ];

    /// <summary>Registers this library's model loaders into <paramref name="catalog"/> (idempotent, thread-safe).</summary>
    /// <returns>The same catalog, for chaining.</returns>
    public static ComponentCatalog RegisterMLNetLlmClassifier(this ComponentCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        foreach (var format in BuiltInFormats)
            MlNetInternals.RegisterLoader(format);
        MlNetInternals.RegisterLoadersInto(catalog);
        return catalog;
    }

    /// <summary>Registers this library's model loaders into the catalog of <paramref name="mlContext"/> (idempotent).</summary>
    /// <returns>The same context, for chaining.</returns>
    public static MLContext RegisterMLNetLlmClassifier(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        mlContext.ComponentCatalog.RegisterMLNetLlmClassifier();
        return mlContext;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ComponentCatalog, string> LoadDevices = new();

    /// <summary>
    /// Registers the loaders (as <see cref="RegisterMLNetLlmClassifier(MLContext)"/>) and sets the device that models loaded through
    /// <paramref name="mlContext"/> run on: "cpu", "cuda", "cuda:N" or "auto". Without it, loading follows the context:
    /// <see cref="MLContext.GpuDeviceId"/> set picks that GPU (falling back to the CPU only when <see cref="MLContext.FallbackToCpu"/>
    /// is true), and otherwise CUDA when present, else the CPU.
    /// </summary>
    /// <returns>The same context, for chaining.</returns>
    public static MLContext RegisterMLNetLlmClassifier(this MLContext mlContext, string loadDevice)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        Torch.TorchDevice.Validate(loadDevice, nameof(loadDevice));
        mlContext.ComponentCatalog.RegisterMLNetLlmClassifier();
        LoadDevices.AddOrUpdate(mlContext.ComponentCatalog, loadDevice);
        return mlContext;
    }

    /// <summary>
    /// The device a model loaded in <paramref name="env"/> runs on: the device given to
    /// <see cref="RegisterMLNetLlmClassifier(MLContext, string)"/>, else the context's GpuDeviceId and FallbackToCpu as ML.NET's own
    /// TorchSharp trainers read them, else "auto".
    /// </summary>
    internal static TorchSharp.torch.Device LoadDevice(IHostEnvironment env)
    {
        if (LoadDevices.TryGetValue(env.ComponentCatalog, out var device)) return Torch.TorchDevice.Resolve(device, "load device");
        var (gpu, fallback) = MlNetInternals.GpuSettings(env);
        if (gpu is null) return Torch.TorchDevice.Resolve("auto");
        if (!TorchSharp.torch.cuda.is_available() || gpu.Value >= TorchSharp.torch.cuda.device_count())
        {
            if (fallback) return TorchSharp.torch.CPU;
            throw new InvalidOperationException($"MLContext.GpuDeviceId = {gpu} but that CUDA device is not available; set MLContext.FallbackToCpu = true " +
                                                "to load on the CPU instead, or build with -p:TorchBackend=cuda (docs/troubleshooting.md).");
        }
        return new TorchSharp.torch.Device(TorchSharp.DeviceType.CUDA, gpu.Value);
    }

    /// <summary>For estimators and transformers of this library: registers into whatever environment they were given.</summary>
    internal static void EnsureRegistered(IHostEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        env.ComponentCatalog.RegisterMLNetLlmClassifier();
    }
}
