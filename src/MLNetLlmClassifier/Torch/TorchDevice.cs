using TorchSharp;

namespace MLNetLlmClassifier.Torch;

/// <summary>
/// Parses and resolves the <c>Device</c> option of the trainers: <c>auto</c> (CUDA when available,
/// else CPU), <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>. Asking for CUDA where there is none is an
/// error, never a silent fallback to the CPU.
/// </summary>
public static class TorchDevice
{
    // Every path into libtorch (trainers, loading, logits) resolves a device first: fix the native library before TorchSharp loads it.
#pragma warning disable CA1810 // the fix must run before any member touches torch, not lazily per field
    static TorchDevice() => TorchNativeFix.EnsureApplied();
#pragma warning restore CA1810

    /// <summary>Checks the syntax of a device string without touching libtorch.</summary>
    /// <exception cref="ArgumentException">The string is not one of the accepted forms.</exception>
    public static void Validate(string? device, string optionName = "Device")
    {
        var d = (device ?? "auto").Trim().ToLowerInvariant();
        if (d is "auto" or "cpu" or "cuda") return;
        if (d.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(d.AsSpan(5), out int n) && n >= 0) return;
        throw new ArgumentException($"{optionName} = '{device}' is not a device: use auto, cpu, cuda or cuda:N.", optionName);
    }

    /// <summary>Resolves a device string to a TorchSharp device.</summary>
    /// <exception cref="InvalidOperationException">CUDA was asked for but is not available, or the index is out of range.</exception>
    public static torch.Device Resolve(string? device, string optionName = "Device")
    {
        Validate(device, optionName);
        var d = (device ?? "auto").Trim().ToLowerInvariant();
        bool cuda;
        try
        {
            if (d == "cpu") return torch.CPU;
            cuda = torch.cuda.is_available();
        }
        catch (TypeInitializationException e)
        {
            throw TorchNativeFix.LoadError(e);
        }
        if (d == "auto") return cuda ? torch.CUDA : torch.CPU;
        if (!cuda)
            throw new InvalidOperationException(
                $"{optionName} = '{device}' but CUDA is not available: this build uses the {TorchBackendName} TorchSharp backend " +
                "or no GPU/driver is visible. Build with -p:TorchBackend=cuda on a machine with an NVIDIA driver, or set " +
                $"{optionName} to 'auto' or 'cpu'. See docs/troubleshooting.md.");
        int index = d == "cuda" ? 0 : int.Parse(d.AsSpan(5), System.Globalization.CultureInfo.InvariantCulture);
        int count = torch.cuda.device_count();
        if (index >= count)
            throw new InvalidOperationException($"{optionName} = '{device}' but only {count} CUDA device(s) are visible.");
        return new torch.Device(DeviceType.CUDA, index);
    }

    /// <summary>Whether the device can run bfloat16 matrix multiplies at full speed (CUDA; libtorch reports an error on GPUs older than compute capability 8.0).</summary>
    public static bool SupportsFastBf16(torch.Device device) =>
        device.type == DeviceType.CUDA;

    /// <summary>
    /// Smallest hidden size at which <see cref="Precision.Auto"/> computes in bfloat16 on a CPU with native bfloat16 instructions.
    /// Measured with <c>mlnet-llm bench</c> on an AVX512-BF16 CPU (docs/performance.md, "Which precision auto picks"): at hidden 384
    /// (MiniLM) bfloat16 trains 1.6–2.2× and scores 2.1–2.3× faster than float32, at 768 (bert-base) 2.7× and 2.8×; at hidden 64
    /// (the tiny presets) per-operator overhead dominates and bfloat16 gains nothing, so float32 keeps its exactness there.
    /// </summary>
    public const int CpuBf16MinHiddenSize = 256;

    private static readonly Lazy<bool> s_cpuBf16 = new(() => CpuFlagsHaveBf16(ReadCpuFlags()));

    /// <summary>
    /// Whether this CPU has native bfloat16 matrix instructions (x86 AVX512-BF16 or AMX-BF16, read from /proc/cpuinfo on Linux;
    /// false elsewhere). The environment variable MLNETLLM_CPU_BF16 = 0 or 1 overrides the detection.
    /// </summary>
    public static bool CpuHasNativeBf16 => Environment.GetEnvironmentVariable("MLNETLLM_CPU_BF16") switch
    {
        "0" => false,
        "1" => true,
        _ => s_cpuBf16.Value,
    };

    /// <summary>The dtype <see cref="Precision.Auto"/> computes in for a model of <paramref name="hiddenSize"/> on <paramref name="device"/>:
    /// bfloat16 on CUDA, and on a CPU with native bfloat16 (<see cref="CpuHasNativeBf16"/>) for hidden sizes of at least
    /// <see cref="CpuBf16MinHiddenSize"/>; float32 otherwise (or when the hidden size is unknown).</summary>
    public static torch.ScalarType AutoDtype(torch.Device device, long? hiddenSize) => AutoDtype(device, hiddenSize, () => CpuHasNativeBf16);

    internal static torch.ScalarType AutoDtype(torch.Device device, long? hiddenSize, Func<bool> cpuHasNativeBf16) =>
        SupportsFastBf16(device) || (device.type == DeviceType.CPU && hiddenSize >= CpuBf16MinHiddenSize && cpuHasNativeBf16())
            ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32;

    /// <summary>Whether a /proc/cpuinfo "flags" line lists a native bfloat16 instruction set.</summary>
    internal static bool CpuFlagsHaveBf16(string? flags) =>
        flags is not null && flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(f => f is "avx512_bf16" or "amx_bf16");

    private static string? ReadCpuFlags()
    {
        try
        {
            return OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo")
                ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal))
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string TorchBackendName =>
        AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name?.Contains("cuda", StringComparison.OrdinalIgnoreCase) == true) ? "CUDA" : "CPU-only";
}
