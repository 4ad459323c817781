using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace GidCluster.Grains.Blobs.Azure;

/// <summary>
/// Signs Blob service requests with the account key ("Shared Key" authorization, service versions
/// 2015-02-21 and later): an HMAC-SHA256 over the verb, a fixed list of standard headers, the
/// canonicalized <c>x-ms-*</c> headers and the canonicalized resource. Holds the key privately and
/// never prints it.
/// </summary>
internal sealed class SharedKeySigner
{
    private readonly string _account;
    private readonly byte[] _key;

    public SharedKeySigner(string account, byte[] key)
    {
        _account = account;
        _key = key;
    }

    public override string ToString() => $"SharedKey({_account})";

    /// <summary>Stamps <c>x-ms-date</c> and sets the <c>Authorization</c> header; call after every other header is set.</summary>
    public void Sign(HttpRequestMessage request, DateTimeOffset now)
    {
        request.Headers.Remove("x-ms-date");
        request.Headers.TryAddWithoutValidation("x-ms-date", now.UtcDateTime.ToString("R", CultureInfo.InvariantCulture));
        var signature = Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(StringToSign(request))));
        request.Headers.Authorization = new AuthenticationHeaderValue("SharedKey", $"{_account}:{signature}");
    }

    /// <summary>The exact text the service recomputes; exposed to the tests through the store's behaviour only.</summary>
    internal string StringToSign(HttpRequestMessage request)
    {
        var content = request.Content?.Headers;
        var length = content?.ContentLength;
        var sb = new StringBuilder();
        sb.Append(request.Method.Method.ToUpperInvariant()).Append('\n');
        sb.Append(Joined(content?.ContentEncoding)).Append('\n');
        sb.Append(Joined(content?.ContentLanguage)).Append('\n');
        // Since 2015-02-21 a zero length is signed as the empty string.
        sb.Append(length is null or 0 ? "" : length.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append(content?.ContentMD5 is { } md5 ? Convert.ToBase64String(md5) : "").Append('\n');
        sb.Append(content?.ContentType?.ToString() ?? "").Append('\n');
        sb.Append('\n'); // Date: we send x-ms-date instead, which is signed among the x-ms headers
        sb.Append(Header(request, "If-Modified-Since")).Append('\n');
        sb.Append(Header(request, "If-Match")).Append('\n');
        sb.Append(Header(request, "If-None-Match")).Append('\n');
        sb.Append(Header(request, "If-Unmodified-Since")).Append('\n');
        sb.Append(Header(request, "Range")).Append('\n');

        var msHeaders = request.Headers
            .Where(h => h.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
            .Select(h => (Name: h.Key.ToLowerInvariant(), Value: string.Join(",", h.Value.Select(v => v.Trim()))))
            .OrderBy(h => h.Name, StringComparer.Ordinal);
        foreach (var (name, value) in msHeaders)
            sb.Append(name).Append(':').Append(value).Append('\n');

        var uri = request.RequestUri ?? throw new InvalidOperationException("request has no URI");
        sb.Append('/').Append(_account).Append(uri.AbsolutePath);
        var query = ParseQuery(uri.Query);
        foreach (var name in query.Keys.OrderBy(k => k, StringComparer.Ordinal))
            sb.Append('\n').Append(name).Append(':').Append(string.Join(",", query[name].Order(StringComparer.Ordinal)));
        return sb.ToString();
    }

    private static string Joined(ICollection<string>? values) => values is { Count: > 0 } ? string.Join(",", values) : "";

    private static string Header(HttpRequestMessage request, string name) =>
        request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    /// <summary>Query parameters by lower-case name, values URL-decoded (as the canonicalized resource wants them).</summary>
    private static Dictionary<string, List<string>> ParseQuery(string query)
    {
        var result = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]).ToLowerInvariant();
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (!result.TryGetValue(name, out var list))
                result[name] = list = [];
            list.Add(value);
        }
        return result;
    }
}
