namespace GidCluster.Grains.Blobs.Azure;

/// <summary>
/// The query of an Azure URI (<c>azure://CONTAINER?…</c> for blobs, <c>azure?…</c> for the cluster's tables):
/// <c>connection-env=VAR</c> names the variable holding the connection string, or <c>account=NAME</c> /
/// <c>endpoint=URL</c> names the account for <c>DefaultAzureCredential</c>. Never a key: URIs end up in logs.
/// </summary>
public static class AzureAccountQuery
{
    /// <summary>The environment variable read when the URI names none (the name Azure's own tools use).</summary>
    public const string DefaultConnectionVariable = "AZURE_STORAGE_CONNECTION_STRING";

    /// <param name="query">Everything after '?', or empty.</param>
    /// <param name="what">How errors name the URI ("Azure blob URI").</param>
    /// <param name="service">The storage service an account name maps to: <c>blob</c> or <c>table</c>.</param>
    /// <returns>The variable to read the connection string from, or the endpoint to use with a token credential.</returns>
    public static (string Variable, Uri? Endpoint) Parse(string query, string what, string service, string help)
    {
        var variable = DefaultConnectionVariable;
        Uri? endpoint = null;
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var name = eq < 0 ? pair : pair[..eq];
            if (name is not ("connection-env" or "account" or "endpoint") || eq < 0 || eq == pair.Length - 1)
                throw new ArgumentException($"{what}: the only query parameter is connection-env=VARIABLE, account=NAME or endpoint=URL; expected {help}");
            var value = Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (name == "connection-env")
                variable = value;
            else
                endpoint = AccountEndpoint(name, value, what, service);
        }
        if (endpoint != null && variable != DefaultConnectionVariable)
            throw new ArgumentException($"{what}: give either connection-env or account/endpoint, not both");
        return (variable, endpoint);
    }

    private static Uri AccountEndpoint(string kind, string value, string what, string service)
    {
        if (kind == "account")
        {
            if (value.Length is < 3 or > 24 || !value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9')))
                throw new ArgumentException($"{what}: account name '{value}' is invalid: 3–24 lower-case letters and digits");
            return new Uri($"https://{value}.{service}.core.windows.net");
        }
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(url.Query) || !string.IsNullOrEmpty(url.UserInfo))
            throw new ArgumentException($"{what}: endpoint must be the account's {service} endpoint URL (https://NAME.{service}.core.windows.net), without query or user info");
        return url;
    }
}
