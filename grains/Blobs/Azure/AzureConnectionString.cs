using Azure.Storage;

namespace GidCluster.Grains.Blobs.Azure;

/// <summary>
/// An Azure Storage connection string (<c>DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=…</c>,
/// or <c>BlobEndpoint=…</c>, or <c>UseDevelopmentStorage=true</c>) reduced to what the blob client needs.
/// The key is kept only inside the SDK's <see cref="StorageSharedKeyCredential"/> and never printed: <see cref="ToString"/> and every
/// parse error name the offending setting, never its value.
/// </summary>
public sealed class AzureConnectionString
{
    /// <summary>Azurite's (and the old storage emulator's) published development account.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    // Published in Azurite's and Microsoft's emulator documentation; it protects nothing.
    private const string DevelopmentAccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly HashSet<string> Known = new(StringComparer.OrdinalIgnoreCase)
    {
        "DefaultEndpointsProtocol", "AccountName", "AccountKey", "BlobEndpoint", "EndpointSuffix",
        "UseDevelopmentStorage", "DevelopmentStorageProxyUri",
        // Endpoints of the other services are legal in a connection string; the blob client ignores them.
        "QueueEndpoint", "TableEndpoint", "FileEndpoint",
    };

    private AzureConnectionString(string accountName, Uri blobEndpoint, StorageSharedKeyCredential credential)
    {
        AccountName = accountName;
        BlobEndpoint = blobEndpoint;
        Credential = credential;
    }

    public string AccountName { get; }

    /// <summary>The blob service root, without a trailing slash: <c>https://ACCOUNT.blob.core.windows.net</c> or path-style <c>http://127.0.0.1:10000/ACCOUNT</c>.</summary>
    public Uri BlobEndpoint { get; }

    /// <summary>The Azure SDK's Shared Key credential (signs requests; never printed).</summary>
    internal StorageSharedKeyCredential Credential { get; }

    /// <summary>The same account at another endpoint (e.g. Azurite on a port other than 10000 with the development account).</summary>
    public AzureConnectionString WithBlobEndpoint(Uri blobEndpoint) =>
        new(AccountName, Trim(ParseUri(blobEndpoint.ToString(), "BlobEndpoint")), Credential);

    public override string ToString() => $"AccountName={AccountName};BlobEndpoint={BlobEndpoint};AccountKey=(hidden)";

    /// <summary>Parses a connection string; <see cref="FormatException"/> naming the setting that is wrong (never echoing the key).</summary>
    public static AzureConnectionString Parse(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new FormatException("Azure connection string is empty");
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // The key's base64 ends in '=' padding, so split at the first '=' only.
            var eq = part.IndexOf('=');
            if (eq <= 0)
                throw new FormatException($"Azure connection string has a part without 'Name=value' (part {settings.Count + 1})");
            var name = part[..eq].Trim();
            if (name.Equals("SharedAccessSignature", StringComparison.OrdinalIgnoreCase))
                throw new FormatException("Azure connection string uses SharedAccessSignature, which this client does not support: use AccountName and AccountKey");
            if (!Known.Contains(name))
            {
                // Echo the name only when it looks like one: a stray key fragment before an '=' must not be printed.
                var shown = name.Length <= 40 && name.All(char.IsAsciiLetter) ? $"'{name}'" : $"(part {settings.Count + 1}, not shown)";
                throw new FormatException($"Azure connection string has an unknown setting {shown}");
            }
            if (!settings.TryAdd(name, part[(eq + 1)..].Trim()))
                throw new FormatException($"Azure connection string sets '{name}' twice");
        }

        if (settings.TryGetValue("UseDevelopmentStorage", out var dev))
        {
            if (!dev.Equals("true", StringComparison.OrdinalIgnoreCase))
                throw new FormatException("Azure connection string: UseDevelopmentStorage must be 'true' when present");
            // The emulator listens on 127.0.0.1:10000 and addresses accounts path-style; a proxy URI moves the host.
            var host = new Uri("http://127.0.0.1");
            if (settings.TryGetValue("DevelopmentStorageProxyUri", out var proxy))
                host = ParseUri(proxy, "DevelopmentStorageProxyUri");
            var endpoint = new UriBuilder(host.Scheme, host.Host, 10000, DevelopmentAccountName).Uri;
            return new AzureConnectionString(DevelopmentAccountName, Trim(endpoint), new StorageSharedKeyCredential(DevelopmentAccountName, DevelopmentAccountKey));
        }

        if (!settings.TryGetValue("AccountName", out var account) || account.Length == 0)
            throw new FormatException("Azure connection string has no AccountName");
        if (!settings.TryGetValue("AccountKey", out var key) || key.Length == 0)
            throw new FormatException("Azure connection string has no AccountKey");
        try { Convert.FromBase64String(key); }
        catch (FormatException) { throw new FormatException("Azure connection string: AccountKey is not valid base64"); }

        Uri blobEndpoint;
        if (settings.TryGetValue("BlobEndpoint", out var explicitEndpoint))
        {
            blobEndpoint = ParseUri(explicitEndpoint, "BlobEndpoint");
        }
        else
        {
            var protocol = settings.GetValueOrDefault("DefaultEndpointsProtocol", "https");
            if (protocol is not ("http" or "https"))
                throw new FormatException($"Azure connection string: DefaultEndpointsProtocol must be http or https, not '{protocol}'");
            var suffix = settings.GetValueOrDefault("EndpointSuffix", "core.windows.net");
            blobEndpoint = ParseUri($"{protocol}://{account}.blob.{suffix}", "AccountName/EndpointSuffix");
        }
        return new AzureConnectionString(account, Trim(blobEndpoint), new StorageSharedKeyCredential(account, key));
    }

    private static Uri ParseUri(string value, string setting)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new FormatException($"Azure connection string: {setting} is not an http(s) URL: '{value}'");
        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
            throw new FormatException($"Azure connection string: {setting} must not have a query or fragment");
        return uri;
    }

    private static Uri Trim(Uri uri) => new(uri.GetLeftPart(UriPartial.Path).TrimEnd('/'));
}
