"""The weight initialisation that EfficientAT's MobileNets and CP-Mobile share."""
from torch import nn


def init_mobilenet_weights(model: nn.Module) -> None:
    """Convs: kaiming-normal (fan_out), zero bias; BatchNorm: weight 1, bias 0; Linear: N(0, 0.01), zero
    bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
