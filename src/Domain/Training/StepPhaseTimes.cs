using System.Diagnostics;

namespace Pix2Pix.Domain.Training;

/// <summary>
/// Where training steps spend their time (<c>bench profile</c>): wall time per phase of <see cref="Pix2PixModel.TrainStep"/>,
/// summed over the steps it was attached for. On the CPU libtorch returns when an op is done, so wall time is the
/// phase's; on a GPU it would be only the launches.
/// </summary>
public sealed class StepPhaseTimes
{
    private readonly Stopwatch clock = new();
    private readonly List<(string Phase, TimeSpan Total)> totals = [];

    public IReadOnlyList<(string Phase, TimeSpan Total)> Totals => totals;

    internal void Start() => clock.Restart();

    internal void End(string phase)
    {
        int index = totals.FindIndex(t => t.Phase == phase);
        if (index < 0) totals.Add((phase, clock.Elapsed));
        else totals[index] = (phase, totals[index].Total + clock.Elapsed);
        clock.Restart();
    }
}
