using Orleans.Runtime;

namespace GidCluster.Grains.Work;

/// <summary>
/// Calls on a grain from a process that outlives silos (a joined training rank): while the silo holding the grain
/// dies and the grain comes back on another, calls fail with Orleans' or a timeout's exception. Those are retried for
/// a while; the grain's own answers (argument and state errors) are not.
/// </summary>
public static class GrainRetry
{
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(5), Pause = TimeSpan.FromSeconds(2);

    public static async Task<T> CallAsync<T>(Func<Task<T>> call, Action<string>? say = null, CancellationToken cancel = default)
    {
        var deadline = DateTime.UtcNow + Patience;
        for (var said = false; ; said = true)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (e is OrleansException or TimeoutException && DateTime.UtcNow < deadline)
            {
                if (!said)
                    say?.Invoke($"the cluster did not answer ({e.GetType().Name}); retrying for up to {Patience.TotalMinutes:0} minutes");
                await Task.Delay(Pause, cancel);
            }
        }
    }

    public static Task CallAsync(Func<Task> call, Action<string>? say = null, CancellationToken cancel = default) =>
        CallAsync(async () =>
        {
            await call();
            return true;
        }, say, cancel);
}
