using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.Storage;

namespace GidCluster.Grains.Sqlite;

public static class SqliteProviders
{
    /// <summary>The grain storage every grain of ours names.</summary>
    public const string StorageName = GrainNames.Storage;

    /// <summary>Grain state (storage <see cref="StorageName"/>) and reminders in one SQLite file.</summary>
    public static ISiloBuilder AddSqliteProviders(this ISiloBuilder silo, SqliteFile file)
    {
        silo.AddReminders();
        silo.Services.AddSingleton(file);
        silo.Services.AddSingleton<IReminderTable>(sp => new SqliteReminderTable(file));
        silo.Services.AddGrainStorage(StorageName, (sp, _) => new SqliteGrainStorage(file, sp.GetRequiredService<IGrainStorageSerializer>()));
        return silo;
    }
}
