"""ticket_routing: the phrase banks tickets are written from.

``routing.ticket_body`` picks the sentences and fills their slots ({app}, {item}, {money}, ...); ``routing.make_ticket``
adds the greeting, signature, subject and account line. Every ticket is re-checked against ``routing.CUE``, so a
phrase that carries a rule's cue word belongs in that rule's bank only.
"""

from __future__ import annotations

from .common import bank

APPS = bank("""
the mobile app
the web dashboard
the admin console
the REST API
the iOS app
the Android app
the desktop app
the reporting module
the automation builder
the device portal
""")
ITEMS = bank("""
smart thermostat
doorbell camera
Lumio hub
motion sensor pack
smart plug set
starter kit
indoor camera
water leak sensor
smart lock
range extender
""")
COMPANIES = bank("""
Harbor Properties
Kestrel Hotels
Brightwater Clinic
Northgate Logistics
Greenfield Schools
Alder & Moss Architects
Summit Coworking
Bluewave Marinas
""")
TOPIC_TEXT = {
    "billing": bank("""
        Why was I charged {money} this month? My plan is supposed to be cheaper.
        Can you resend the invoice for {month} with our VAT number on it?
        I'd like to switch from monthly to annual billing.
        My card was declined but the payment still shows as pending.
        The invoice for {month} lists our old company address.
        How do I change the credit card on file?
        We upgraded to the Team plan mid-cycle, how is the prorated amount calculated?
        Our purchase order number has to appear on future invoices, where do I enter it?
        The renewal notice shows a higher price than last year. Is that correct?
        Can we pay by bank transfer instead of card from now on?
        The sales tax on my last invoice looks wrong to me.
        I was charged {money} twice for the same order, please check.
        Who do I talk to about moving our {n} licences to one invoice?
    """),
    "shipping": bank("""
        My {item} was supposed to arrive on {weekday} and tracking hasn't moved in {n} days.
        The courier left my {item} at the wrong address.
        Can I change the delivery address for order {order}?
        The box with my {item} arrived crushed. The {item} itself seems to work though.
        Tracking says delivered but there is nothing at my door.
        Do you ship to Norway? I couldn't select it at checkout.
        Order {order} only contained half of the items.
        I need the {item} before {weekday}, can you upgrade it to express shipping?
        My parcel has been stuck in customs for a week.
        The carrier keeps rescheduling the delivery of my {item}.
        I got someone else's {item} in my package, order {order}.
        Is it possible to pick up order {order} at a store instead?
    """),
    "technical": bank("""
        {App} crashes every time I open the schedules screen.
        I get 'Error 500' when I save a scene in {app}.
        My {item} keeps disconnecting from Wi-Fi since the firmware update.
        The export button in {app} does nothing.
        All charts in {app} are empty since the last update.
        Our integration gets a 401 from the REST API although the token is valid.
        Notifications arrive twice on my phone.
        The {item} shows the wrong temperature, off by about {n} degrees.
        Webhooks stopped firing for some of our events.
        Motion alerts from the {item} are delayed by several minutes.
        The firmware update for the {item} fails at 80%.
        Pairing a new {item} with the hub never finishes.
        {App} shows my devices twice after I renamed a room.
    """),
    "general": bank("""
        Do you have an office in Berlin?
        What are your support hours over the holidays?
        Just wanted to say the new onboarding is great, well done.
        Where can I find your privacy policy?
        Do you have a recycling program for old devices?
        Who should I send a press inquiry to?
        Can I get a copy of your sustainability report?
        Thanks for the quick help last week, great service!
        Are you hiring support staff in Lisbon?
        Is there a partner program for electricians and installers?
        Can I visit a showroom to see the {item} before buying?
        I'm writing a review of the {item} for my blog, who can I contact?
    """),
}
OUTAGE_TEXT = bank("""
    {App} is down for our whole team since {time}.
    We are getting 503 errors from {app} in all our offices.
    Nobody in our company can reach {app} right now.
    {App} has been unavailable for two hours and our operations are blocked.
    Is there an outage? {App} won't load for any of our {n} users.
    All our hubs went offline at once and {app} is unreachable.
    Complete outage on our side: {app} shows a blank page for everyone.
    Your status page says everything is fine but {app} is down for all of us.
    {App} has been unreachable since {time}, none of our sites can control their devices.
""")
ACCESS_TEXT = bank("""
    I can't log in, the password reset email never arrives.
    My 2FA codes are rejected since I got a new phone.
    SSO login loops back to the sign-in page.
    My account got locked after too many login attempts.
    The login page says my password is wrong although I just reset it.
    I lost my authenticator app and can't get past two-factor.
    The verification code never arrives when I try to sign in.
    A colleague left and we need to reset the admin password for our workspace.
    Since I changed my email address I can no longer sign in.
    Our SSO stopped working for new employees, they get 'access denied' at login.
    I'm locked out of my account and the unlock link has expired.
""")
BILLING_MENTION = bank("""
    I need to download last month's invoice urgently.
    I need to update my payment card before {weekday}.
    My subscription renews tomorrow.
    I want to check a charge of {money} on my statement.
    Our accountant is waiting for the {month} invoice.
    I'm worried my next payment won't go through.
""")
FEATURE_TEXT = bank("""
    It would be great if {app} had a dark mode.
    Feature request: the REST API should report errors with a code and a message for every device.
    Could you make it possible to export the event log as CSV?
    Please consider adding keyboard shortcuts to {app}.
    Suggestion: allow bulk editing of schedules in {app}, the current screen is slow to use.
    Would love to see a widget for the {item} on the home screen.
    Any plans to support more than {n} devices per hub? That would help us a lot.
    Idea for the REST API: an endpoint that returns battery levels of all devices.
    We'd like to request multi-language support in {app}.
    Feature request: let the {item} send a webhook when its battery is low.
""")
CANCEL_TEXT = bank("""
    Please cancel my subscription at the end of this month.
    We want to close our account, how do we do that?
    I'd like to terminate our contract when it runs out in {month}.
    How do I stop the automatic renewal of my plan?
    Please end my membership, I'm moving abroad.
    We are switching providers, please cancel all {n} of our licences.
""")
LEGAL_TEXT = bank("""
    If this isn't fixed by {weekday} I will file a chargeback with my bank.
    I have already disputed the charge with my credit card company.
    My lawyer will be in touch.
    I am considering legal action.
    I will take this to small claims court.
    I opened a dispute with PayPal.
    Expect to hear from my attorney.
    I've contacted the consumer protection agency and I'm ready to sue.
    My bank is reversing the payment as a chargeback.
""")
REFUND_TEXT = bank("""
    I'd like a refund of {money}, {reason}.
    Please refund the {money} I paid, {reason}.
    Requesting a refund of {money} because {reason}.
    Could you reimburse the {money}? {Reason}.
    {Reason}. I want my money back ({money}).
    {Reason}, so I expect a full refund of {money}.
""")
REFUND_REASON = {
    "shipping": bank("""
        the {item} arrived broken
        the parcel never arrived
        the courier lost my order
        the {item} came three weeks late and I had to buy another one
    """),
    "technical": bank("""
        the {item} stopped working after a week
        {app} never worked on my phone
        the {item} overheats and shuts off
    """),
    "billing": bank("""
        I was billed for a plan I never chose
        I was charged for a seat we removed
        the annual renewal went through without any notice
    """),
    "general": bank("""
        I changed my mind
        the {item} is not what the website described
    """),
}
FRUSTRATION = bank("""
    This is the third time I'm writing about this.
    Honestly, I'm really disappointed.
    Please fix this ASAP!!
    I've been a customer for {years} years.
    Very unhappy right now.
    Nobody answered my last email.
""")
GREETINGS = bank("""
    Hi,
    Hello team,
    Hey there,
    Good morning,
    Dear support,
    Hi support,
    Hello,
    To whom it may concern,
    Hi all,
""")
CLOSINGS = bank("""
    Thanks,
    Best,
    Regards,
    Cheers,
    Thank you,
    Kind regards,
    Thx,
""")
SUBJECTS = bank("""
    Help needed
    Question
    URGENT
    Problem
    Re: Ticket #{order}
    Please read
    Follow-up
    (no subject)
    Issue with my account
    Need help asap
""")
FORM_CATEGORIES = ("Billing", "Technical issue", "Shipping", "Account", "Other", "Feedback")
TYPOS = {"the": "teh", "receive": "recieve", "because": "becuase", "please": "pls", "really": "realy"}
TYPOS |= {"address": "adress", "again": "agian", "since": "sinse", "working": "workin", "which": "wich"}
