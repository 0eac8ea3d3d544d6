using System.Diagnostics;
using System.Threading.Channels;

namespace MLNetLlmClassifier.Cli.Serving;

/// <summary>
/// Dynamic micro-batching: requests of one or more items are queued; a single worker takes up to <c>maxBatch</c> items at a time
/// (from one or several requests) once the first waiting item has waited <c>maxWait</c> or the batch is full, processes them in one
/// call and completes each request when all its items are done. The number of waiting items is bounded: a request that would exceed
/// the bound is refused at once (the server answers 429). <see cref="CompleteAsync"/> stops accepting and finishes every item
/// already queued, so requests in flight get their answers on shutdown.
/// </summary>
/// <typeparam name="TIn">An item to process.</typeparam>
/// <typeparam name="TOut">Its result.</typeparam>
internal sealed class MicroBatchQueue<TIn, TOut> : IAsyncDisposable
{
    private sealed class Request(TIn[] items)
    {
        public readonly TIn[] Items = items;
        public readonly TOut[] Results = new TOut[items.Length];
        public int Remaining = items.Length;
        public readonly TaskCompletionSource<TOut[]> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly record struct Entry(Request Request, int Index, long EnqueuedTicks);

    private readonly Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>> _process;
    private readonly int _maxBatch;
    private readonly TimeSpan _maxWait;
    private readonly int _capacity;
    private readonly Channel<Entry> _channel = Channel.CreateUnbounded<Entry>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _worker;
    private readonly object _gate = new();
    private int _waiting;
    private bool _completed;

    /// <param name="process">Processes one batch; returns one result per item, in order. Called from one thread at a time.</param>
    /// <param name="maxBatch">Most items per call of <paramref name="process"/>.</param>
    /// <param name="maxWait">Longest wait of a batch's first item for others.</param>
    /// <param name="capacity">Most items waiting.</param>
    /// <param name="onBatch">Told the size of each batch and how long it took (metrics); may be null.</param>
    public MicroBatchQueue(Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>> process, int maxBatch, TimeSpan maxWait, int capacity,
        Action<int, TimeSpan>? onBatch = null)
    {
        ArgumentNullException.ThrowIfNull(process);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _process = process;
        _maxBatch = maxBatch;
        _maxWait = maxWait;
        _capacity = capacity;
        OnBatch = onBatch;
        // A dedicated thread: processing is CPU- (or GPU-) bound and must not hold a thread-pool thread that requests need.
        _worker = Task.Factory.StartNew(() => RunAsync().GetAwaiter().GetResult(), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private Action<int, TimeSpan>? OnBatch { get; }

    /// <summary>Items waiting to be processed (not yet taken into a batch).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Most items waiting.</summary>
    public int Capacity => _capacity;

    /// <summary>
    /// Queues a request. False (nothing queued) when its items would take the waiting count over the capacity, or after
    /// <see cref="CompleteAsync"/>; <paramref name="result"/> then is null.
    /// </summary>
    public bool TryEnqueue(IReadOnlyList<TIn> items, out Task<TOut[]>? result)
    {
        ArgumentNullException.ThrowIfNull(items);
        result = null;
        var request = new Request(items.ToArray());
        if (request.Items.Length == 0)
        {
            result = Task.FromResult(Array.Empty<TOut>());
            return true;
        }
        lock (_gate)
        {
            if (_completed || _waiting + request.Items.Length > _capacity) return false;
            _waiting += request.Items.Length;
            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < request.Items.Length; i++) _channel.Writer.TryWrite(new Entry(request, i, now));
        }
        result = request.Done.Task;
        return true;
    }

    private async Task RunAsync()
    {
        var reader = _channel.Reader;
        var batch = new List<Entry>(_maxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            if (!reader.TryRead(out var first)) continue;
            batch.Add(first);
            // The first item has waited since it was queued: the batch closes maxWait after that.
            var deadline = _maxWait - Stopwatch.GetElapsedTime(first.EnqueuedTicks);
            var sw = Stopwatch.StartNew();
            while (batch.Count < _maxBatch)
            {
                if (reader.TryRead(out var next))
                {
                    batch.Add(next);
                    continue;
                }
                var left = deadline - sw.Elapsed;
                if (left <= TimeSpan.Zero) break;
                using var timeout = new CancellationTokenSource(left);
                try
                {
                    if (!await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            Interlocked.Add(ref _waiting, -batch.Count);
            Process(batch);
        }
    }

    private void Process(List<Entry> batch)
    {
        var sw = Stopwatch.StartNew();
        IReadOnlyList<TOut> results;
        try
        {
            results = _process(batch.Select(e => e.Request.Items[e.Index]).ToArray());
            if (results.Count != batch.Count)
                throw new InvalidOperationException($"The batch function returned {results.Count} results for {batch.Count} items.");
        }
        catch (Exception e)
        {
            foreach (var r in batch.Select(x => x.Request).Distinct()) r.Done.TrySetException(e);
            return;
        }
        OnBatch?.Invoke(batch.Count, sw.Elapsed);
        for (int i = 0; i < batch.Count; i++)
        {
            var (request, index, _) = batch[i];
            request.Results[index] = results[i];
            if (Interlocked.Decrement(ref request.Remaining) == 0) request.Done.TrySetResult(request.Results);
        }
    }

    /// <summary>Stops accepting requests and waits until every queued item is processed.</summary>
    public Task CompleteAsync()
    {
        lock (_gate)
        {
            _completed = true;
            _channel.Writer.TryComplete();
        }
        return _worker;
    }

    public async ValueTask DisposeAsync() => await CompleteAsync().ConfigureAwait(false);
}
