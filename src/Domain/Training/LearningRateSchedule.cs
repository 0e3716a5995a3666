namespace Pix2Pix.Domain.Training;

/// <summary>The learning rate of each epoch as a pure function of the epoch, so a resumed run needs no scheduler state.</summary>
public static class LearningRateSchedule
{
    /// <param name="epoch">1-based epoch.</param>
    public static double At(TrainingRecipe options, int epoch)
    {
        double initial = options.LearningRate;
        return options.LrPolicy switch
        {
            // The reference's lambda_rule: constant for n_epochs, then linearly towards zero over n_epochs_decay + 1.
            LrPolicy.Linear => initial * (1.0 - Math.Max(0, epoch - options.Epochs) / (double)(options.DecayEpochs + 1)),
            LrPolicy.Step => initial * Math.Pow(0.1, (epoch - 1) / options.LrStepEpochs),
            LrPolicy.Cosine => initial * 0.5 * (1 + Math.Cos(Math.PI * (epoch - 1) / options.TotalEpochs)),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.LrPolicy, "Unknown learning-rate policy."),
        };
    }
}
