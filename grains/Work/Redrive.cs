using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;

namespace GidCluster.Grains.Work;

/// <summary>The durable reminder a grain holds while it has unfinished work: if its silo dies, the reminder activates it elsewhere.</summary>
public static class Redrive
{
    public static Task Arm(Grain grain, GrainSettings settings) =>
        grain.RegisterOrUpdateReminder(GrainNames.Redrive, settings.ReminderPeriod, settings.ReminderPeriod);

    /// <summary>
    /// Removes the reminder once the work is finished. A failure is logged, not thrown: the finished state is already
    /// written, and the reminder's next tick finds it finished and disarms again. Throwing here would skip what the
    /// caller does next (telling the job), e.g. while the reminder's range still belongs to a silo that just died.
    /// </summary>
    public static async Task Disarm(Grain grain, ILogger logger)
    {
        try
        {
            if (await grain.GetReminder(GrainNames.Redrive) is { } reminder)
                await grain.UnregisterReminder(reminder);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException)
        {
            logger.LogWarning("{Grain}: could not remove its re-drive reminder yet ({Error}); its next tick will", grain.GetGrainId(), Describe(e));
        }
    }

    /// <summary>"Type: message" of an exception, for a grain's recorded error.</summary>
    public static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message}";
}
