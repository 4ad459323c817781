using Orleans;
using Orleans.Runtime;

namespace GidCluster.Grains.Work;

/// <summary>The durable reminder a grain holds while it has unfinished work: if its silo dies, the reminder activates it elsewhere.</summary>
public static class Redrive
{
    public static Task Arm(Grain grain, GrainSettings settings) =>
        grain.RegisterOrUpdateReminder(GrainNames.Redrive, settings.ReminderPeriod, settings.ReminderPeriod);

    public static async Task Disarm(Grain grain)
    {
        if (await grain.GetReminder(GrainNames.Redrive) is { } reminder)
            await grain.UnregisterReminder(reminder);
    }

    /// <summary>"Type: message" of an exception, for a grain's recorded error.</summary>
    public static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message}";
}
