namespace MLNetLlmClassifier.Torch;

/// <summary>
/// The run-time half of the TorchSharp GLIBCXX fix (build/TorchSharpGlibcxxFix.targets). TorchSharp 0.107's libLibTorchSharp.so
/// requires GLIBCXX_3.4.32 for a marker symbol only; Debian 12 and Ubuntu 22.04 lack it, and libtorch then fails to load with a
/// misleading "doesn't contain a reference to libtorch-cpu-linux-x64". The build fixes its output and the NuGet package fixes its
/// consumers' builds, but an app that references the library <em>project</em> from outside this repository gets neither. So before
/// TorchSharp first loads, the library marks that requirement weak in the app's own copies of libLibTorchSharp.so (the same
/// two-byte, idempotent, atomic patch); where the file is read-only it leaves it and the load error says what to do.
/// Set MLNETLLM_SKIP_GLIBCXX_FIX=1 to turn it off.
/// </summary>
internal static class TorchNativeFix
{
    private const string Version = "GLIBCXX_3.4.32";
    private static int _applied;

    /// <summary>Why the fix could not be applied (a read-only file), or null.</summary>
    internal static string? Failure { get; private set; }

    /// <summary>Applies the fix once per process (Linux only; a no-op where the files are already fixed).</summary>
    internal static void EnsureApplied()
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1 || !OperatingSystem.IsLinux()) return;
        if (Environment.GetEnvironmentVariable("MLNETLLM_SKIP_GLIBCXX_FIX") is "1" or "true") return;
        foreach (var path in Candidates())
        {
            try
            {
                Failure = Weaken(path) ? null : Failure;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                Failure = $"{path}: {e.Message}";
            }
        }
    }

    /// <summary>Marks the requirement weak in <paramref name="path"/>; false when it already was (or the file lacks it).</summary>
    internal static bool Weaken(string path)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (MLNetLlmClassifierElfVersion.Weaken(elf, Version) < 0) return false;
        string tmp = $"{path}.glibcxx-fix-{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllBytes(tmp, elf);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        return true;
    }

    private static IEnumerable<string> Candidates()
    {
        string root = AppContext.BaseDirectory;
        foreach (var dir in new[] { root, Path.Combine(root, "runtimes", "linux-x64", "native"), Path.Combine(root, "runtimes", "linux-arm64", "native") })
        {
            var path = Path.Combine(dir, "libLibTorchSharp.so");
            if (File.Exists(path)) yield return path;
        }
    }

    /// <summary>
    /// The error for a TorchSharp that failed to load its native library: what it most likely is on Linux and how to fix it,
    /// instead of TorchSharp's advice to add a package that is already there.
    /// </summary>
    internal static InvalidOperationException LoadError(Exception e)
    {
        var cause = e;
        while (cause.InnerException is not null) cause = cause.InnerException;
        string first = cause.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? cause.GetType().Name;
        return new InvalidOperationException(
            $"TorchSharp could not load its native library ({first})." +
            (OperatingSystem.IsLinux()
                ? $" On Linux with a libstdc++ older than GCC 13 (Debian 12, Ubuntu 22.04) the cause is TorchSharp's {Version} requirement, which " +
                  "MLNetLlmClassifier removes from the app's copy of libLibTorchSharp.so" +
                  (Failure is not null ? $" but could not here ({Failure})"
                      : Environment.GetEnvironmentVariable("MLNETLLM_SKIP_GLIBCXX_FIX") is "1" or "true" ? " unless MLNETLLM_SKIP_GLIBCXX_FIX is set, as it is here" : "") +
                  ": build with the fix instead, by adding <Import Project=\"path/to/MLNetLlmClassifier/build/TorchSharpGlibcxxFix.targets\" /> " +
                  "to your project (the NuGet package does this for you), or check that the TorchSharp-cpu (or -cuda) package is referenced."
                : " Check that the TorchSharp-cpu (or -cuda) package is referenced by the app.") +
            " See docs/troubleshooting.md.", e);
    }
}
