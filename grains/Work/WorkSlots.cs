using Microsoft.Extensions.Logging;

namespace GidCluster.Grains.Work;

/// <summary>
/// The silo's pool of work slots. A video's pipeline runs for minutes, so grains never run it
/// themselves: they hand it here and return. Each item runs on the thread pool, off the Orleans
/// scheduler, at most <see cref="Slots"/> at once (queued beyond that), and reports its outcome
/// back to its grain with a grain call. Activations stay free to answer status calls meanwhile.
/// </summary>
public sealed class WorkSlots(int slots, ILogger<WorkSlots> logger) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(slots, slots);
    private readonly CancellationTokenSource _stopping = new();
    private int _queued;
    private int _busy;
    private long _done;

    /// <summary>The silo metadata key that tells jobs how many slots a silo has, so they hand it no more videos than it can run.</summary>
    public const string MetadataKey = "gid.work-slots";

    /// <summary>Default size: one slot per core (each pipeline run computes on one thread, so results never depend on the core count).</summary>
    public static int DefaultSlots => Math.Max(1, Environment.ProcessorCount);

    public int Slots { get; } = slots;

    public int Busy => Volatile.Read(ref _busy);

    public int Queued => Volatile.Read(ref _queued);

    public long Done => Interlocked.Read(ref _done);

    /// <summary>Queues <paramref name="work"/>; <paramref name="report"/> gets its result or its exception (never both, always once unless the silo stops).</summary>
    public void Run<T>(string name, Func<CancellationToken, Task<T>> work, Func<T?, Exception?, Task> report)
    {
        Interlocked.Increment(ref _queued);
        // Task.Run: the default scheduler, not the calling activation's.
        _ = Task.Run(async () =>
        {
            T? result = default;
            Exception? error = null;
            try
            {
                await _gate.WaitAsync(_stopping.Token);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Decrement(ref _queued);
                return; // the silo is stopping; reminders re-drive the work elsewhere
            }
            Interlocked.Decrement(ref _queued);
            Interlocked.Increment(ref _busy);
            try
            {
                logger.LogInformation("running {Work}", name);
                result = await work(_stopping.Token);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                error = e;
            }
            finally
            {
                Interlocked.Decrement(ref _busy);
                _gate.Release();
            }
            Interlocked.Increment(ref _done);
            // The grain may be mid-move (its silo is stopping or the call times out): retry a few times,
            // after which the grain's reminder re-drives the work.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await report(result, error);
                    return;
                }
                catch (Exception e) when (attempt < 5 && !_stopping.IsCancellationRequested)
                {
                    logger.LogWarning("reporting {Work} failed (try {Try}): {Error}", name, attempt, e.Message);
                    await Task.Delay(TimeSpan.FromSeconds(attempt));
                }
                catch (Exception e)
                {
                    logger.LogWarning("reporting {Work} failed; its grain's reminder will run it again: {Error}", name, e.Message);
                    return;
                }
            }
        });
    }

    /// <summary>Cancels queued and running work (the silo is stopping).</summary>
    public void Stop() => _stopping.Cancel();

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }
}
