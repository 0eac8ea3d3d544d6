using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MLNetLlmClassifier.Tests.Hub;

/// <summary>A request as the loopback server saw it.</summary>
internal sealed record LoopbackRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
}

/// <summary>What the loopback server answers.</summary>
internal sealed class LoopbackResponse
{
    public int Status { get; init; } = 200;
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
    public byte[] Body { get; init; } = [];

    /// <summary>Announce the whole body in Content-Length, send only this many bytes, then close the connection.</summary>
    public int? DropAfterBytes { get; init; }
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 and a free port, one request per connection (Connection: close), for testing
/// real HTTP client code without a network. It records every request, answers HEAD without a body, can cut a response
/// short, and stops by itself after <c>lifetime</c> even if a test forgets to dispose it.
/// </summary>
internal sealed class LoopbackHttpServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<LoopbackRequest, LoopbackResponse> _handler;
    private readonly CancellationTokenSource _stop;

    public LoopbackHttpServer(Func<LoopbackRequest, LoopbackResponse> handler, TimeSpan? lifetime = null)
    {
        _handler = handler;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        BaseUri = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _stop = new CancellationTokenSource(lifetime ?? TimeSpan.FromSeconds(60));
        _stop.Token.Register(() => _listener.Stop());
        _ = Task.Run(AcceptLoopAsync);
    }

    public Uri BaseUri { get; }

    public ConcurrentQueue<LoopbackRequest> Requests { get; } = new();

    /// <summary>Body bytes actually written to clients (GET only), to prove a resume did not download twice.</summary>
    public long BodyBytesSent => Interlocked.Read(ref _bodyBytesSent);
    private long _bodyBytesSent;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            _ = Task.Run(() => Serve(client));
        }
    }

    private void Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                stream.ReadTimeout = stream.WriteTimeout = 10_000;
                var request = ReadRequest(stream);
                if (request is null) return;
                Requests.Enqueue(request);
                LoopbackResponse response;
                try { response = _handler(request); }
                catch (Exception e) { response = new LoopbackResponse { Status = 500, Body = Encoding.UTF8.GetBytes(e.ToString()) }; }
                Write(stream, request, response);
            }
            catch (IOException) { /* the client went away */ }
        }
    }

    private static LoopbackRequest? ReadRequest(NetworkStream stream)
    {
        var head = new List<byte>();
        while (head.Count < 64 * 1024)
        {
            int b = stream.ReadByte();
            if (b < 0) return null;
            head.Add((byte)b);
            int n = head.Count;
            if (n >= 4 && head[n - 4] == '\r' && head[n - 3] == '\n' && head[n - 2] == '\r' && head[n - 1] == '\n') break;
        }
        string[] lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n");
        string[] requestLine = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        return new LoopbackRequest(requestLine[0], requestLine[1], headers);
    }

    private void Write(NetworkStream stream, LoopbackRequest request, LoopbackResponse response)
    {
        var head = new StringBuilder();
        head.Append($"HTTP/1.1 {response.Status} {ReasonPhrase(response.Status)}\r\n");
        foreach (var (name, value) in response.Headers)
            if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                head.Append($"{name}: {value}\r\n");
        string length = response.Headers.TryGetValue("Content-Length", out var l) ? l : response.Body.Length.ToString();
        head.Append($"Content-Length: {length}\r\nConnection: close\r\n\r\n");
        stream.Write(Encoding.ASCII.GetBytes(head.ToString()));
        if (request.Method == "HEAD") return;

        int send = Math.Min(response.Body.Length, response.DropAfterBytes ?? int.MaxValue);
        stream.Write(response.Body, 0, send);
        stream.Flush();
        Interlocked.Add(ref _bodyBytesSent, send);
        // For DropAfterBytes the connection now closes although Content-Length promised more: to the client, a
        // connection dropped mid-file. (A clean close rather than a reset, so the bytes sent do arrive.)
    }

    private static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        _ => "Status",
    };

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
