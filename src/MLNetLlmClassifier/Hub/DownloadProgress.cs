namespace MLNetLlmClassifier.Hub;

/// <summary>
/// Progress of one file being downloaded from the hub, for progress bars. Reported when a download starts
/// (with the bytes an earlier, interrupted run already fetched), about every MiB, and when the file is complete.
/// Files found in the cache are not reported.
/// </summary>
/// <param name="File">The file's name in the repository, e.g. <c>model.safetensors</c>.</param>
/// <param name="BytesDone">Bytes on disk so far, resumed bytes included.</param>
/// <param name="TotalBytes">The file's size as the hub reports it.</param>
public sealed record DownloadProgress(string File, long BytesDone, long TotalBytes);
