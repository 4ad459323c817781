using GidCluster.Grains.Store;
using Microsoft.Extensions.Logging;

namespace GidCluster.Grains.Leases;

/// <summary>How a worker claims and holds grains.</summary>
/// <param name="Owner">This worker's identity in leases (the silo id).</param>
/// <param name="LeaseFor">Lease length; heartbeats extend it every third of it.</param>
/// <param name="Poll">Wait between claims when nothing is claimable.</param>
/// <param name="Drain">On shutdown, how long a grain in progress may take to finish before it is released.</param>
/// <param name="Slots">Grains run at once.</param>
public sealed record WorkerOptions(string Owner, TimeSpan LeaseFor, TimeSpan Poll, TimeSpan Drain, int Slots = 1);

/// <summary>
/// The worker role: claims grains of the kinds it has handlers for, keeps their leases alive by
/// heartbeat, commits results through the fence, records failures (retry, then quarantine), and on
/// shutdown stops claiming, lets work in progress finish within the drain time, else releases it.
/// </summary>
public sealed class GrainWorker(IClusterStore store, IEnumerable<IGrainHandler> handlers, WorkerOptions options, ILogger logger)
{
    private readonly Dictionary<string, IGrainHandler> _handlers = handlers.ToDictionary(h => h.Kind);
    private int _busy;
    private long _done;

    public int Busy => Volatile.Read(ref _busy);

    public long Done => Interlocked.Read(ref _done);

    /// <summary>Runs until <paramref name="stopping"/> fires and every slot has drained.</summary>
    public Task RunAsync(CancellationToken stopping) =>
        Task.WhenAll(Enumerable.Range(0, options.Slots).Select(_ => Task.Run(() => SlotAsync(stopping), CancellationToken.None)));

    private async Task SlotAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Lease? lease = null;
            try
            {
                lease = await store.ClaimAsync(options.Owner, _handlers.Keys, options.LeaseFor, CancellationToken.None);
            }
            catch (Exception e)
            {
                logger.LogWarning("claiming failed: {Error}", e.Message);
            }
            if (lease == null)
            {
                try { await Task.Delay(options.Poll, stopping); }
                catch (OperationCanceledException) { }
                continue;
            }
            try
            {
                await RunOneAsync(lease, stopping);
            }
            catch (Exception e)
            {
                // The store failed while recording the outcome; the lease expires and the grain is rescued.
                logger.LogError("recording the outcome of {Grain} failed: {Error}", lease.GrainId, e.Message);
            }
        }
    }

    private async Task RunOneAsync(Lease lease, CancellationToken stopping)
    {
        Interlocked.Increment(ref _busy);
        logger.LogInformation("claimed {Grain} (attempt {Attempt}, fence {Fence})", lease.GrainId, lease.Attempt, lease.Fence);
        await store.AddEventAsync(lease.JobId, lease.GrainId, options.Owner, "grain.claimed", $"attempt {lease.Attempt}, fence {lease.Fence}", CancellationToken.None);
        using var work = new CancellationTokenSource();
        using var beat = new CancellationTokenSource();
        var lost = false;
        var heartbeat = Task.Run(async () =>
        {
            var current = lease;
            while (!beat.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(options.LeaseFor / 3, beat.Token);
                    current = await store.HeartbeatAsync(current, options.LeaseFor, CancellationToken.None);
                }
                catch (OperationCanceledException) { return; }
                catch (LeaseLostException)
                {
                    lost = true;
                    await work.CancelAsync();
                    return;
                }
                catch (Exception e)
                {
                    // The store may be briefly unreachable; the lease survives until it expires.
                    logger.LogWarning("heartbeat for {Grain} failed: {Error}", lease.GrainId, e.Message);
                }
            }
        }, CancellationToken.None);
        await using var drain = stopping.Register(() => work.CancelAfter(options.Drain));
        try
        {
            var result = await _handlers[lease.Kind].ExecuteAsync(lease, new StoreLeaseGuard(store, lease), work.Token);
            await beat.CancelAsync();
            await store.CompleteAsync(lease, result, CancellationToken.None);
            Interlocked.Increment(ref _done);
            logger.LogInformation("done {Grain}", lease.GrainId);
            await store.AddEventAsync(lease.JobId, lease.GrainId, options.Owner, "grain.done", $"attempt {lease.Attempt}", CancellationToken.None);
        }
        catch (Exception e) when (e is LeaseLostException || (e is OperationCanceledException && lost))
        {
            logger.LogWarning("lost the lease on {Grain}; its result is not committed", lease.GrainId);
            await store.AddEventAsync(lease.JobId, lease.GrainId, options.Owner, "grain.lease_lost", $"fence {lease.Fence}", CancellationToken.None);
        }
        catch (OperationCanceledException) when (work.IsCancellationRequested)
        {
            await beat.CancelAsync();
            await store.ReleaseAsync(lease, CancellationToken.None);
            logger.LogInformation("released {Grain} on drain", lease.GrainId);
            await store.AddEventAsync(lease.JobId, lease.GrainId, options.Owner, "grain.released", "silo draining", CancellationToken.None);
        }
        catch (Exception e)
        {
            await beat.CancelAsync();
            var error = $"{e.GetType().Name}: {e.Message}";
            string state;
            try { state = await store.FailAsync(lease, error, CancellationToken.None); }
            catch (LeaseLostException) { state = "lease lost"; }
            logger.LogWarning("{Grain} failed (attempt {Attempt}, now {State}): {Error}", lease.GrainId, lease.Attempt, state, error);
            await store.AddEventAsync(lease.JobId, lease.GrainId, options.Owner, $"grain.failed", $"attempt {lease.Attempt} → {state}: {error}", CancellationToken.None);
        }
        finally
        {
            await beat.CancelAsync();
            await heartbeat;
            Interlocked.Decrement(ref _busy);
        }
    }
}
