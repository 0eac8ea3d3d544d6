namespace MLNetLlmClassifier.IO;

/// <summary>
/// Writes files atomically: the content goes to <c>path + ".tmp-&lt;pid&gt;-&lt;guid&gt;"</c> in the same folder,
/// is flushed to disk, and only then replaces <c>path</c> with one rename. A writer that fails
/// (exception, cancellation, full disk) leaves the previous file untouched and removes its temporary file; a temporary file
/// that a killed process left behind is removed by the next write of the same path.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    /// <param name="path">The file to create or replace. Its folder must exist.</param>
    /// <param name="write">Writes the whole content to the stream it is given.</param>
    public static void Write(string path, Action<Stream> write) => Write(path, write, CancellationToken.None);

    /// <summary>
    /// Writes <paramref name="path"/> through <paramref name="write"/>, atomically, and cancellably: once
    /// <paramref name="cancellationToken"/> is cancelled, the next write to the stream (or, at the latest, the moment before
    /// the rename) throws <see cref="OperationCanceledException"/>, the temporary file is removed and the previous file stays.
    /// </summary>
    /// <param name="path">The file to create or replace. Its folder must exist.</param>
    /// <param name="write">Writes the whole content to the stream it is given.</param>
    /// <param name="cancellationToken">Cancels the write (e.g. Ctrl-C).</param>
    public static void Write(string path, Action<Stream> write, CancellationToken cancellationToken) =>
        Write(path, write, amendTemporary: null, cancellationToken);

    /// <summary>
    /// As <see cref="Write(string, Action{Stream}, CancellationToken)"/>, then <paramref name="amendTemporary"/> may change the
    /// written temporary file by its path (e.g. add an entry to a zip that another library wrote to the stream) before it is
    /// flushed to disk and renamed into place.
    /// </summary>
    internal static void Write(string path, Action<Stream> write, Action<string>? amendTemporary, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        cancellationToken.ThrowIfCancellationRequested();
        string full = Path.GetFullPath(path);
        string prefix = Path.GetFileName(full) + ".tmp-";
        string folder = Path.GetDirectoryName(full)!;
        TempArtifacts.RemoveStale(folder, prefix);
        string tmp = Path.Combine(folder, TempArtifacts.NewName(prefix));
        using var tracked = TempArtifacts.Track(tmp);
        try
        {
            using (var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                if (cancellationToken.CanBeCanceled)
                {
                    using var cancellable = new CancellableWriteStream(stream, cancellationToken);
                    write(cancellable);
                }
                else write(stream);
                cancellationToken.ThrowIfCancellationRequested();
                stream.Flush(flushToDisk: amendTemporary is null);
            }
            if (amendTemporary is not null)
            {
                cancellationToken.ThrowIfCancellationRequested();
                amendTemporary(tmp);
                using var written = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                written.Flush(flushToDisk: true);
            }
            cancellationToken.ThrowIfCancellationRequested();
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/>, atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { /* best effort: the real error is rethrown by the caller */ }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Writes UTF-8 text without a byte-order mark, atomically, creating the folder when needed.</summary>
    public static void WriteAllText(string path, string contents)
    {
        ArgumentNullException.ThrowIfNull(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        WriteAllBytes(path, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(contents));
    }

    /// <summary>
    /// A view of a file stream whose writes throw once a token is cancelled, so that a long save (which takes no token
    /// itself) stops at its next write. Disposing it leaves the file stream open (its owner flushes and closes it).
    /// </summary>
    private sealed class CancellableWriteStream(FileStream inner, CancellationToken token) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() { token.ThrowIfCancellationRequested(); inner.Flush(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => inner.SetLength(value);
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            token.ThrowIfCancellationRequested();
            inner.Write(buffer);
        }
        public override void WriteByte(byte value)
        {
            token.ThrowIfCancellationRequested();
            inner.WriteByte(value);
        }
    }
}
