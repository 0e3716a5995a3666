using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Training;

/// <summary>
/// Adam over one network's parameters kept as views of four contiguous buffers (values, gradients, first and second
/// moments), so zeroing the gradients is one kernel and the update one pass over all the parameters at once
/// (<see cref="FusedAdamKernel"/> on the CPU; the same tensor operations, flat, on a GPU) instead of eight kernels per
/// parameter — the idea behind PyTorch's foreach/fused Adam. Same arithmetic as TorchSharp's <see cref="Adam"/>,
/// bit for bit; that optimizer still holds the options and per-parameter state, and writes and reads the checkpoint
/// format unchanged.
/// </summary>
public sealed class FlatAdam : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly double beta1, beta2, epsilon;
    private Tensor? values, gradients, averages, squares;
    private Adam.State[] states = [];

    public FlatAdam(IEnumerable<Parameter> parameters, double learningRate, double beta1, double beta2, double epsilon = 1e-8)
    {
        this.parameters = parameters.ToArray();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        State = optim.Adam(this.parameters, learningRate, beta1, beta2, epsilon);
        Bind();
    }

    /// <summary>TorchSharp's optimizer over the same parameters: learning rate, step counts, checkpoint format.</summary>
    public Adam State { get; }

    public double LearningRate
    {
        get => State.ParamGroups.First().LearningRate;
        set
        {
            foreach (var group in State.ParamGroups) group.LearningRate = value;
        }
    }

    /// <summary>
    /// Makes every parameter, its gradient and its two moments views of the flat buffers, keeping their values. Called
    /// again after anything replaced those tensors (a checkpoint load).
    /// </summary>
    public void Bind()
    {
        states = State.state_dict().State.Cast<Adam.State>().ToArray();
        long total = parameters.Sum(p => p.numel());
        var device = parameters[0].device;
        var newValues = empty(total, ScalarType.Float32, device);
        var newGradients = zeros(total, ScalarType.Float32, device);
        var newAverages = empty(total, ScalarType.Float32, device);
        var newSquares = empty(total, ScalarType.Float32, device);
        using (no_grad())
        {
            long offset = 0;
            for (int i = 0; i < parameters.Length; i++)
            {
                var parameter = parameters[i];
                if (parameter.dtype != ScalarType.Float32)
                    throw new InvalidOperationException($"FlatAdam keeps fp32 master weights; parameter {i} is {parameter.dtype}.");
                var value = View(newValues, offset, parameter.shape);
                value.copy_(parameter);
                parameter.set_(value);
                var gradient = View(newGradients, offset, parameter.shape);
                using (var old = parameter.grad) if (old is not null) gradient.copy_(old);
                parameter.grad = gradient;
                states[i].exp_avg = Rebind(View(newAverages, offset, parameter.shape), states[i].exp_avg);
                states[i].exp_avg_sq = Rebind(View(newSquares, offset, parameter.shape), states[i].exp_avg_sq);
                offset += parameter.numel();
            }
        }
        values?.Dispose();
        gradients?.Dispose();
        averages?.Dispose();
        squares?.Dispose();
        (values, gradients, averages, squares) = (newValues, newGradients, newAverages, newSquares);
    }

    private static Tensor View(Tensor flat, long offset, long[] shape)
    {
        using var segment = flat.narrow(0, offset, shape.Aggregate(1L, (a, b) => a * b));
        return segment.view(shape);
    }

    private static Tensor Rebind(Tensor view, Tensor old)
    {
        view.copy_(old);
        old.Dispose();
        return view;
    }

    public void ZeroGrad() => gradients!.zero_();

    /// <summary>TorchSharp's Adam step (no weight decay, no amsgrad), on all parameters at once.</summary>
    public void Step()
    {
        foreach (var state in states) state.step += 1;
        long step = states[0].step;
        double biasCorrection1 = 1 - Math.Pow(beta1, step), biasCorrection2 = 1 - Math.Pow(beta2, step);
        if (values!.device_type == TorchSharp.DeviceType.CPU)
        {
            var scalars = new FusedAdamKernel.Scalars((float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2),
                (float)Math.Sqrt(biasCorrection2), (float)epsilon, (float)(-LearningRate / biasCorrection1));
            FusedAdamKernel.Update(values, gradients!, averages!, squares!, scalars);
            return;
        }
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        averages!.mul_(beta1).add_(gradients!, alpha: 1 - beta1);
        squares!.mul_(beta2).addcmul_(gradients!, gradients!, value: 1 - beta2);
        var denominator = (squares.sqrt() / Math.Sqrt(biasCorrection2)).add_(epsilon);
        values.addcdiv_(averages, denominator, value: -LearningRate / biasCorrection1);
    }

    public void Dispose()
    {
        State.Dispose();
        values?.Dispose();
        gradients?.Dispose();
        averages?.Dispose();
        squares?.Dispose();
    }
}
