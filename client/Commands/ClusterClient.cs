using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using GidCluster.Contracts;

namespace GidCluster.Client.Commands;

/// <summary>
/// Talks to a silo's HTTP API. Which cluster: <c>--server</c>/<c>--token</c>, else
/// <c>GID_SERVER</c>/<c>GID_TOKEN</c>, else the endpoint file <c>gid up</c> wrote (<c>~/.gid/endpoint.json</c>).
/// </summary>
public sealed class ClusterClient : IDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http;

    public ClusterClient(string server, string token)
    {
        _http = new HttpClient { BaseAddress = new Uri(server.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(10) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public static Option<string?> ServerOption() => new("--server") { Description = "Silo URL (default: $GID_SERVER, else the cluster `gid up` started)." };

    public static Option<string?> TokenOption() => new("--token") { Description = "API token (default: $GID_TOKEN, else the token `gid up` wrote)." };

    /// <summary>Adds --server and --token to a command.</summary>
    public static (Option<string?> Server, Option<string?> Token) AddConnectionOptions(Command command)
    {
        var server = ServerOption();
        var token = TokenOption();
        command.Options.Add(server);
        command.Options.Add(token);
        return (server, token);
    }

    public static ClusterClient Connect(ParseResult parse, (Option<string?> Server, Option<string?> Token) options)
    {
        var server = parse.GetValue(options.Server) ?? Environment.GetEnvironmentVariable("GID_SERVER");
        var token = parse.GetValue(options.Token) ?? Environment.GetEnvironmentVariable("GID_TOKEN");
        if (server == null || token == null)
        {
            var endpoint = EndpointFile.Read();
            server ??= endpoint?.Url;
            token ??= endpoint?.Token;
        }
        if (server == null || token == null)
            throw new ClusterClientException("no cluster selected: pass --server and --token, set GID_SERVER and GID_TOKEN, or start one with `gid up`");
        return new ClusterClient(server, token);
    }

    public async Task<T> GetAsync<T>(string path, CancellationToken cancel) => await ReadAsync<T>(await SendAsync(() => _http.GetAsync(path, cancel)), cancel);

    public async Task<T> PostAsync<T>(string path, object body, CancellationToken cancel) =>
        await ReadAsync<T>(await SendAsync(() => _http.PostAsJsonAsync(path, body, Json, cancel)), cancel);

    /// <summary>Opens a blob's content; the SHA-256 the silo recorded comes in a header.</summary>
    public async Task<HttpResponseMessage> DownloadAsync(string blobPath, CancellationToken cancel)
    {
        var response = await SendAsync(() => _http.GetAsync($"api/blobs?path={Uri.EscapeDataString(blobPath)}", HttpCompletionOption.ResponseHeadersRead, cancel));
        if (!response.IsSuccessStatusCode)
            await ReadAsync<object>(response, cancel);
        return response;
    }

    private async Task<HttpResponseMessage> SendAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            return await send();
        }
        catch (HttpRequestException e)
        {
            throw new ClusterClientException($"cannot reach the silo at {_http.BaseAddress}: {e.Message}");
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancel)
    {
        if (response.IsSuccessStatusCode)
            return (await response.Content.ReadFromJsonAsync<T>(Json, cancel))!;
        ApiError? error = null;
        try { error = await response.Content.ReadFromJsonAsync<ApiError>(Json, cancel); }
        catch (JsonException) { }
        var what = response.StatusCode == HttpStatusCode.Unauthorized ? "the silo refused the token" : error?.Error ?? response.ReasonPhrase;
        throw new ClusterClientException($"{(int)response.StatusCode}: {what}{(error?.Field is { } f ? $" (field {f})" : "")}");
    }

    public void Dispose() => _http.Dispose();
}

public sealed class ClusterClientException(string message) : Exception(message);

/// <summary>Where <c>gid up</c> records its URL and token for the other commands on this machine (readable by the owner only).</summary>
public sealed record EndpointFile(string Url, string Token)
{
    public static string DataDir() =>
        Environment.GetEnvironmentVariable("GID_DATA") is { Length: > 0 } d ? d : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".gid");

    private static string FilePath => Path.Combine(DataDir(), "endpoint.json");

    public static EndpointFile? Read() => File.Exists(FilePath) ? JsonSerializer.Deserialize<EndpointFile>(File.ReadAllText(FilePath), ClusterClient.Json) : null;

    public void Write()
    {
        Directory.CreateDirectory(DataDir());
        File.WriteAllText(FilePath, "");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(FilePath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(FilePath, JsonSerializer.Serialize(this, ClusterClient.Json));
    }

    public static void Delete() => File.Delete(FilePath);
}
