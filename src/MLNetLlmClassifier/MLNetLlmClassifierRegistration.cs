using Microsoft.ML;
using Microsoft.ML.Runtime;

using MLNetLlmClassifier.MLNet;

namespace MLNetLlmClassifier;

/// <summary>
/// Makes ML.NET able to load models that contain MLNetLlmClassifier transformers.
/// </summary>
/// <remarks>
/// Not needed to load a model: a model.zip names this assembly as its loader assembly, ML.NET's <c>Model.Load</c> calls
/// <see cref="ComponentCatalog.RegisterAssembly"/> on it, and that finds the loader attribute the build weaves into this assembly
/// (build/LoaderRegistrationWeaver.targets), so a plain <c>new MLContext()</c> loads our models. Call it to choose the device models
/// load on (<see cref="RegisterMLNetLlmClassifier(MLContext, string)"/>), or where the woven attribute is missing (a build with
/// MLNetLlmClassifierSkipLoaderWeave=true): it registers the loaders by reflection. It is cheap, idempotent, and harmless before or
/// after a load.
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

    /// <summary>The loader signatures of the built-in formats.</summary>
    internal static IEnumerable<string> BuiltInLoaderSignatures => BuiltInFormats.Select(f => f.LoaderSignature);

    /// <summary>Adds this library's formats to the loader dispatch table (idempotent).</summary>
    internal static void RegisterBuiltInFormats()
    {
        foreach (var format in BuiltInFormats)
            MlNetInternals.RegisterLoader(format);
    }

    /// <summary>Registers this library's model loaders into <paramref name="catalog"/> (idempotent, thread-safe).</summary>
    /// <returns>The same catalog, for chaining.</returns>
    public static ComponentCatalog RegisterMLNetLlmClassifier(this ComponentCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        RegisterBuiltInFormats();
        // ML.NET's own, public path first: it finds the woven loader attribute (AutomaticRegistration) and remembers the assembly, so
        // that Model.Load's own RegisterAssembly call does not add it twice. Then the reflective path, for formats registered at run
        // time (it skips signatures the catalog already maps).
        catalog.RegisterAssembly(typeof(MLNetLlmClassifierRegistration).Assembly);
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
