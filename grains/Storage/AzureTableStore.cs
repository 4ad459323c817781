using Azure.Data.Tables;
using Azure.Identity;
using GidCluster.Grains.Blobs.Azure;
using Orleans.Configuration;
using Orleans.Hosting;

namespace GidCluster.Grains.Storage;

/// <summary>
/// The multi-machine store: Orleans' own Azure Table Storage providers for membership (clustering), grain
/// state (storage <see cref="GrainNames.Storage"/>) and reminders, all in the deployment's storage account.
/// Given as <c>azure[?connection-env=VAR]</c> (the connection string comes from the environment, never from the
/// URI) or <c>azure?account=NAME</c> / <c>?endpoint=URL</c> (no key: <see cref="DefaultAzureCredential"/>, as
/// the blob store's workload-identity path). Rows are keyed by the cluster and service ids, so clusters may
/// share an account.
/// </summary>
public sealed class AzureTableStore
{
    public const string UriHelp =
        "azure (connection string from $AZURE_STORAGE_CONNECTION_STRING), azure?connection-env=VAR, "
        + "or azure?account=NAME (or ?endpoint=URL) with DefaultAzureCredential (workload identity, managed identity, az login)";

    private AzureTableStore(TableServiceClient client, string description)
    {
        Client = client;
        Description = description;
    }

    /// <summary>The table service client every provider shares (its key, if any, stays inside the SDK).</summary>
    public TableServiceClient Client { get; }

    /// <summary>Account and endpoint, for logs; never the key.</summary>
    public string Description { get; }

    public static bool IsAzure(string uri) => uri == "azure" || uri.StartsWith("azure?", StringComparison.Ordinal);

    public static AzureTableStore FromUri(string uri, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (!IsAzure(uri))
            throw new ArgumentException($"not an Azure store URI; expected {UriHelp}");
        var (variable, endpoint) = AzureAccountQuery.Parse(uri.Length > "azure?".Length ? uri["azure?".Length..] : "", "Azure store URI", "table", UriHelp);
        if (endpoint != null)
            return new AzureTableStore(new TableServiceClient(endpoint, new DefaultAzureCredential()), $"azure tables at {endpoint.AbsoluteUri.TrimEnd('/')}");
        var connection = environment(variable);
        if (string.IsNullOrWhiteSpace(connection))
            throw new ArgumentException($"Azure store URI: environment variable {variable} is not set (it must hold the storage connection string)");
        TableServiceClient client;
        try
        {
            client = new TableServiceClient(connection);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            // The SDK's message may quote the string; ours names only the variable.
            throw new ArgumentException($"Azure store URI: environment variable {variable} does not hold a valid storage connection string (with a TableEndpoint or an AccountName)");
        }
        return new AzureTableStore(client, $"azure tables of account '{client.AccountName}' at {client.Uri.AbsoluteUri.TrimEnd('/')}");
    }

    /// <summary>Membership, grain state and reminders in this account's tables.</summary>
    public ISiloBuilder AddProviders(ISiloBuilder silo)
    {
        silo.UseAzureStorageClustering(o => o.TableServiceClient = Client);
        silo.AddAzureTableGrainStorage(GrainNames.Storage, o => o.TableServiceClient = Client);
        silo.UseAzureTableReminderService(o => o.TableServiceClient = Client);
        return silo;
    }
}
