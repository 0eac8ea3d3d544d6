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

    private static string TorchBackendName =>
        AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name?.Contains("cuda", StringComparison.OrdinalIgnoreCase) == true) ? "CUDA" : "CPU-only";
}
